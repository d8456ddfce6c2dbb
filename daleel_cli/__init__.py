"""The ``daleel`` command line, above the library (``index``, ``qa``) and the chat (``ui``)."""

from daleel_cli.main import main

__all__ = ["main"]
