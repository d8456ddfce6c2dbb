"""daleel: question answering over Arabic news that quotes the exact sentence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.answer import QuestionError
    from qa.assistant import Assistant
    from qa.records import Answer, Citation, Hit, Topic

__all__ = ["Answer", "Assistant", "Citation", "Hit", "QuestionError", "Topic"]
_HOME = {
    "Answer": "qa.records",
    "Assistant": "qa.assistant",
    "Citation": "qa.records",
    "Hit": "qa.records",
    "QuestionError": "qa.answer",
    "Topic": "qa.records",
}


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m qa --help`` (the command line) loads no numpy, FAISS or torch.
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
