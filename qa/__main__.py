"""``python -m qa`` is the ``daleel`` command."""

from daleel_cli import main

raise SystemExit(main())
