"""``python -m qa`` is the ``daleel`` command."""

from qa.cli import main

raise SystemExit(main())
