"""Sentence segmentation with exact character offsets, for Arabic (and mixed) news text.

Answers quote ``text[start:end]`` verbatim, so this returns offsets into the original
string rather than cleaned-up strings. It is rule based (standard library only) and
linear time: it splits after terminal punctuation and at every line break, but not
inside numbers, abbreviations, domains or short quotations, and it caps sentence length
so that one run-on line cannot swallow a whole article.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

MAX_SENTENCE_CHARS = 600
# A quote or bracket shields the terminators inside it only if it closes within this
# many characters: an unclosed quote must not swallow the rest of a long article.
QUOTE_SPAN = 300
# How far back to look for the word before a period (abbreviations, URLs). Bounded so
# that the cost per period is constant even on a huge line without spaces.
_LOOKBACK = 64

# U+2028/U+2029 and the legacy NEL/VT/FF are line breaks too; a break always ends a sentence.
_BREAKS = "\r\n|[\n\r\u2028\u2029\x85\x0b\x0c]"
_TERMINATORS = ".!?؟…۔"
_EVENTS = re.compile(f"(?P<br>{_BREAKS})|(?P<term>[{re.escape(_TERMINATORS)}]+)")
_BRACKET_EVENTS = re.compile(f'{_BREAKS}|[(\\[«“")\\]»”]')
_OPENER_OF = {")": "(", "]": "[", "»": "«", "”": "“"}
# What may trail a terminator and still belong to its sentence: closing quotes and
# brackets, and Wikipedia citation marks such as ".[3][4]". A citation cannot hold a
# terminator or a break, so the next event always starts after the trail.
_TRAIL = re.compile(
    "(?:[\"”»)\\]’']"
    f"|\\[[^\\[\\]\n\r\u2028\u2029\x85\x0b\x0c{re.escape(_TERMINATORS)}]{{1,20}}\\])*"
)
_NEXT_VISIBLE = re.compile(r"\s*(\S?)")
_NONSPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s")
_CONTENT = re.compile(r"[^\W_]")  # exactly the str.isalnum() characters
_LEADING_OPENERS = "\"'“‘«([{"

_AR_LETTER = "[\u0621-\u063a\u0641-\u064a\u0671-\u06d3]"
_AR_MARKS = "[\u0640\u064b-\u065f\u0670]*"  # tatweel and tashkeel, as in "هـ." or "دُ."
# Initials and dotted abbreviations: "J", "U.S", "e.g", "د", "هـ", "ق.م", and "ود"/"وم"
# because the conjunction wa- is written attached ("ود. أحمد" = "and Dr. Ahmad").
_AR_INITIALS = f"\u0648?{_AR_LETTER}{_AR_MARKS}(?:\\.{_AR_LETTER}{_AR_MARKS})*"
_INITIALS = re.compile(f"[A-Z]|[A-Za-z](?:\\.[A-Za-z])+|{_AR_INITIALS}")
# Titles that are (almost) never the last word of a sentence.
_TITLES = frozenset(
    {"mr", "mrs", "ms", "messrs", "dr", "prof", "st", "jr", "sr", "vs", "gen", "col", "lt"}
    | {"sgt", "capt", "gov", "sen", "rep", "rev", "hon", "mt"}
)
# Abbreviations that only count as such before a number, e.g. "No. 5" but "said No. He".
_NUMBER_ABBREVS = frozenset({"no", "nos", "vol", "fig", "p", "pp", "art", "ch", "sec", "op", "nr"})


def _is_arabic_letter(ch: str) -> bool:
    return ch.isalpha() and (
        "\u0600" <= ch <= "\u06ff"
        or "\u0750" <= ch <= "\u077f"
        or "\u08a0" <= ch <= "\u08ff"
        or "\ufb50" <= ch <= "\ufdff"
        or "\ufe70" <= ch <= "\ufeff"
    )


def _protected_ranges(text: str) -> list[tuple[int, int]]:
    """Sorted, disjoint [lo, hi] ranges of boundary positions inside a closed quote/bracket.

    A boundary at position e lies inside a pair opened at o and closed at c when
    o < e <= c. Each bracket kind has its own stack, so a stray ")" cannot unbalance
    the guillemets; straight double quotes simply toggle.
    """
    stacks: dict[str, list[int]] = {"(": [], "[": [], "«": [], "“": []}
    straight: int | None = None
    pairs: list[tuple[int, int]] = []
    for m in _BRACKET_EVENTS.finditer(text):
        ch, pos = m.group(), m.start()
        if ch in stacks:
            stacks[ch].append(pos)
        elif ch in _OPENER_OF:
            stack = stacks[_OPENER_OF[ch]]
            if stack:
                opened = stack.pop()
                if pos - opened <= QUOTE_SPAN:
                    pairs.append((opened + 1, pos))
                else:
                    stack.clear()  # every older opener is even farther away
        elif ch == '"':
            if straight is not None and pos - straight <= QUOTE_SPAN:
                pairs.append((straight + 1, pos))
                straight = None
            else:
                straight = pos
        else:  # a line break: quotes never span lines
            for stack in stacks.values():
                stack.clear()
            straight = None
    pairs.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in pairs:
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _word_before(text: str, pos: int) -> str:
    """The whitespace-delimited token ending at pos, without leading quotes/brackets."""
    chunk = text[max(0, pos - _LOOKBACK) : pos]
    if not chunk or chunk[-1].isspace():
        return ""
    return chunk.split()[-1].lstrip(_LEADING_OPENERS)


def _is_abbreviation(word: str, next_visible: str) -> bool:
    low = word.lower()
    if low in _TITLES or _INITIALS.fullmatch(word):
        return True
    return low in _NUMBER_ABBREVS and next_visible.isdecimal()


def _ends_sentence(text: str, start: int, end: int, after: int) -> bool:
    """Whether the terminator run text[start:end], plus its trail up to after, ends a sentence."""
    run = text[start:end]
    if after > end and start > 0 and text[start - 1] in '([«“"':
        return False  # an elision or aside such as "[…]" or "(!)" holds no sentence
    nxt = text[after] if after < len(text) else ""
    if nxt and not nxt.isspace():
        # No space after the terminator ("الحرب.وبدأت"): a boundary only before an Arabic
        # letter or a capital, never inside a number, a URL or an e-mail address.
        if not (_is_arabic_letter(nxt) or nxt.isupper()):
            return False
        word = _word_before(text, start)
        if "@" in word or "://" in word or word.lower().startswith("www"):
            return False
        return run != "." or not _is_abbreviation(word, nxt)
    if "…" in run or ".." in run:
        return True  # an ellipsis followed by a space ends the sentence
    visible = _NEXT_VISIBLE.match(text, after)  # always matches
    following = visible.group(1) if visible else ""
    if following.islower():
        return False  # "etc. and", "e.g. the": a lowercase word continues the sentence
    return run != "." or not _is_abbreviation(_word_before(text, start), following)


def _raw_segments(text: str) -> Iterator[tuple[int, int]]:
    """Unstripped segments between line breaks and sentence-ending terminators."""
    ranges = _protected_ranges(text)
    ri = 0
    start = 0
    for m in _EVENTS.finditer(text):
        if m.lastgroup == "br":
            yield start, m.start()
            start = m.end()
            continue
        trail = _TRAIL.match(text, m.end())  # always matches; it may be empty
        after = trail.end() if trail else m.end()
        # Boundaries arrive in increasing order, so one pointer walks the ranges.
        while ri < len(ranges) and ranges[ri][1] < after:
            ri += 1
        if ri < len(ranges) and ranges[ri][0] <= after:
            continue
        if _ends_sentence(text, m.start(), m.end(), after):
            yield start, after
            start = after
    yield start, len(text)


def _cap(text: str, start: int, end: int, max_chars: int, out: list[tuple[int, int]]) -> None:
    """Append stripped pieces of text[start:end] (already stripped), none over max_chars."""
    while end - start > max_chars:
        # Last whitespace in text[start + 1 : start + max_chars + 1], found by searching
        # the reversed window; a cut there keeps the piece within max_chars.
        window = text[start + 1 : start + max_chars + 1][::-1]
        found = _SPACE.search(window)
        cut = start + max_chars - found.start() if found else start + max_chars
        piece = text[start:cut]
        piece_end = start + len(piece.rstrip())
        if _CONTENT.search(text, start, piece_end):
            out.append((start, piece_end))
        nonspace = _NONSPACE.search(text, cut, end)
        assert nonspace is not None  # text[end - 1] is not whitespace
        start = nonspace.start()
    if _CONTENT.search(text, start, end):
        out.append((start, end))


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence of text, in order; text[start:end] is the sentence.

    Spans are non-empty, stripped, non-overlapping, at most max_chars long, and each
    holds at least one letter or digit (punctuation-only lines such as "***" are dropped).
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    spans: list[tuple[int, int]] = []
    for seg_start, seg_end in _raw_segments(text):
        segment = text[seg_start:seg_end]
        body = segment.strip()
        if not body or not _CONTENT.search(body):
            continue
        start = seg_start + len(segment) - len(segment.lstrip())
        _cap(text, start, start + len(body), max_chars, spans)
    return spans
