"""daleel: question answering over Arabic news that quotes the exact sentence."""

from qa.answer import QuestionError
from qa.assistant import Assistant
from qa.records import Answer, Citation, Hit

__all__ = ["Answer", "Assistant", "Citation", "Hit", "QuestionError"]
__version__ = "0.1.0"
