"""What gets embedded for each cited sentence.

The sentence is always the unit we cite; what we embed may add context. Measured on Arabic QA
(issue 5, BENCHMARKS.md): adding the article headline helps when questions name the article's
subject (TyDi-ar R@1 +5.7), while adding neighbouring sentences hurts top-1 by 20-34 points
(the neighbours' windows outrank the gold sentence). So the default is headline + sentence.
"""

from __future__ import annotations

CONTEXT_MODES = ("title", "sentence")
DEFAULT_CONTEXT = "title"


def embed_text(title: str, sentence: str, context: str = DEFAULT_CONTEXT) -> str:
    """The passage text embedded for ``sentence`` of an article headed ``title``."""
    if context not in CONTEXT_MODES:
        raise ValueError(f"context must be one of {CONTEXT_MODES}, not {context!r}")
    title = " ".join(title.split())
    if context == "sentence" or not title or title == " ".join(sentence.split()):
        return sentence
    return f"{title}\n{sentence}"
