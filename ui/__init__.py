"""daleel web chat: ``build_app(assistant)`` returns the page, ``serve(index_dir)`` runs it."""

from __future__ import annotations

from typing import Any

__all__ = ["build_app", "serve"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``import ui.render`` (pure functions, unit tests) does not import gradio.
    if name in __all__:
        from ui import app, server

        return getattr(app if name == "build_app" else server, name)
    raise AttributeError(f"module 'ui' has no attribute {name!r}")
