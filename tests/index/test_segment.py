"""Tests for index.segment: exact sentence offsets over Arabic news text."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.segment import MAX_SENTENCE_CHARS, split_sentences

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_f4163db1c6c8c2c8.txt"


def check_invariants(text: str, spans: list[tuple[int, int]], max_chars: int) -> None:
    prev_end = 0
    for start, end in spans:
        assert prev_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip()
        assert any(ch.isalnum() for ch in piece)
        assert len(piece) <= max_chars
        prev_end = end
    covered = bytearray(len(text))
    for start, end in spans:
        covered[start:end] = b"\x01" * (end - start)
    lost = [i for i, ch in enumerate(text) if ch.isalnum() and not covered[i]]
    assert not lost, f"content outside every span at {lost[:5]}"


def sents(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    spans = split_sentences(text, max_chars)
    check_invariants(text, spans, max_chars)
    return [text[start:end] for start, end in spans]


# --- the real seed article -------------------------------------------------------------


def test_seed_article() -> None:
    text = SEED.read_text(encoding="utf-8")
    out = sents(text)
    assert out[0] == (
        "أسوشيتد برس: بغداد وواشنطن تختلفان على الجدول الزمني لانسحاب القوات الأمريكية"
    )
    expected = [
        "وفي 26 يوليو/تموز، اتفقت بغداد وواشنطن على سحب القوات الأمريكية المقاتلة من العراق"
        " بحلول نهاية هذا العام، ولم يتبق سوى عدد قليل من القوات الأمريكية لتقديم المشورة"
        " وتدريب القوات العراقية.",
        "ويصل عدد الجنود غير الأميركيين في العراق إلى 2400 شخص دخلوا البلاد نيابة عن دول"
        " أخرى تحت اسم تحالف مكافحة الإرهاب، وهو ما لم يُقال عنهم صراحة حتى هذه اللحظة.",
        "فيما ذكر بيان الخارجية العراقية أن الجانبين توصلا إلى اتفاق مع الولايات المتحدة"
        " الأمريكية بشأن التخفيض التدريجي لعدد “مستشاري التحالف الدولي” وإنهاء “مهمة مكافحة"
        " تنظيم داعش”، بحسب البنتاغون.",
        "ولم يذكر البيان هذه القضية، بل ذكر بدلاً من ذلك أن عقد اجتماعات فريق عمل مؤسسة حمد"
        " الطبية سيجعل من الممكن التحرك نحو “شراكة أمنية مستقرة وثنائية” بين الجانبين.",
        "وتتواجد أمريكا بشكل مستمر في العراق منذ عام 2003.",
        "وادعى أن هذه المفاوضات مستمرة منذ عدة أشهر.",
    ]
    for sentence in expected:
        assert sentence in out
    assert len(out) == 20
    # Offsets are exact: every sentence is found verbatim where its span says.
    for start, end in split_sentences(text):
        assert text.find(text[start:end], start) == start


def test_seed_article_with_crlf_has_same_sentences() -> None:
    text = SEED.read_text(encoding="utf-8")
    assert sents(text.replace("\n", "\r\n")) == sents(text)


# --- concrete examples -----------------------------------------------------------------

CASES: list[tuple[str, list[str]]] = [
    # basic terminators
    ("ذهب الولد. عاد البنت.", ["ذهب الولد.", "عاد البنت."]),
    ("هل حضرت؟ نعم حضرت!", ["هل حضرت؟", "نعم حضرت!"]),
    ("ماذا حدث?! لا أعرف!! حقاً؟؟ نعم", ["ماذا حدث?!", "لا أعرف!!", "حقاً؟؟", "نعم"]),
    ("Is it? Yes! Done.", ["Is it?", "Yes!", "Done."]),
    # semicolons stay inside a sentence
    ("قال كذا؛ ثم قال كذا; وانتهى.", ["قال كذا؛ ثم قال كذا; وانتهى."]),
    # line breaks always end a sentence
    ("عنوان الخبر\nنص الخبر هنا. وجملة ثانية", ["عنوان الخبر", "نص الخبر هنا.", "وجملة ثانية"]),
    ("أ ب\r\nج د\re f\u2028g h\u2029i j", ["أ ب", "ج د", "e f", "g h", "i j"]),
    ("سطر بلا نقطة\n\n\nسطر آخر", ["سطر بلا نقطة", "سطر آخر"]),
    # punctuation-only lines are dropped
    ("***\n—\n.\nنص\n...\n؟!", ["نص"]),
    # numbers
    ("بلغ النمو 2.5 بالمئة. ثم", ["بلغ النمو 2.5 بالمئة.", "ثم"]),
    ("قيمة π هي 3.14 تقريبا.", ["قيمة π هي 3.14 تقريبا."]),
    ("بلغ العدد 1.200 جندي و1,200 آخرين.", ["بلغ العدد 1.200 جندي و1,200 آخرين."]),
    ("النسبة ٢٫٥ أو ٢.٥ بالمئة.", ["النسبة ٢٫٥ أو ٢.٥ بالمئة."]),
    ("منذ عام 2003. ورغم ذلك", ["منذ عام 2003.", "ورغم ذلك"]),
    ("عام 2003.وبدأ", ["عام 2003.", "وبدأ"]),
    # dates and slashes
    ("وفي 26 يوليو/تموز، اتفقا.", ["وفي 26 يوليو/تموز، اتفقا."]),
    ("بتاريخ 2018/01/05 و05.01.2018 وقع.", ["بتاريخ 2018/01/05 و05.01.2018 وقع."]),
    ("في كانون الثاني/يناير 2018. ثم", ["في كانون الثاني/يناير 2018.", "ثم"]),
    # quotes and brackets
    ('قال: "انتهى الأمر." ثم غادر.', ['قال: "انتهى الأمر."', "ثم غادر."]),
    ("قال: “انتهى الأمر.” ثم غادر.", ["قال: “انتهى الأمر.”", "ثم غادر."]),
    ("قال: «انتهى الأمر.» ثم غادر.", ["قال: «انتهى الأمر.»", "ثم غادر."]),
    ("(انتهى الأمر.) ثم غادر.", ["(انتهى الأمر.)", "ثم غادر."]),
    ("[انتهى الأمر!] ثم غادر.", ["[انتهى الأمر!]", "ثم غادر."]),
    ("He said 'stop.' Then left.", ["He said 'stop.'", "Then left."]),
    ("He said ‘stop.’ Then left.", ["He said ‘stop.’", "Then left."]),
    ("قال «نعم. ثم لا» وذهب. بعدها", ["قال «نعم. ثم لا» وذهب.", "بعدها"]),
    ("قال “نعم! ثم لا؟” وذهب.", ["قال “نعم! ثم لا؟”", "وذهب."]),
    ("قال “نعم! ثم لا” وذهب.", ["قال “نعم! ثم لا” وذهب."]),
    ('قال "نعم. ثم لا" وذهب.', ['قال "نعم. ثم لا" وذهب.']),
    ("ذهب (انظر الشكل. 3 هنا) ثم عاد.", ["ذهب (انظر الشكل. 3 هنا) ثم عاد."]),
    ("ذهب [انظر. هنا] ثم عاد.", ["ذهب [انظر. هنا] ثم عاد."]),
    ("«قال: (نعم. لا.) ثم» انتهى. بعد", ["«قال: (نعم. لا.) ثم» انتهى.", "بعد"]),
    # Latin abbreviations
    ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
    ("He lives in the U.S. and works.", ["He lives in the U.S. and works."]),
    ("The U.S. Army left. Then", ["The U.S. Army left.", "Then"]),
    ("Use tools, e.g. hammers, i.e. things.", ["Use tools, e.g. hammers, i.e. things."]),
    ("Apples, pears etc. are fruit. Next", ["Apples, pears etc. are fruit.", "Next"]),
    ("He bought apples etc. Then he left.", ["He bought apples etc.", "Then he left."]),
    (
        "See No. 5 and vol. 2 now. He said No. Then",
        ["See No. 5 and vol. 2 now.", "He said No.", "Then"],
    ),
    ("J. K. Rowling wrote it. Then", ["J. K. Rowling wrote it.", "Then"]),
    # Arabic abbreviations
    ("قال د. أحمد إن الوضع جيد. ثم", ["قال د. أحمد إن الوضع جيد.", "ثم"]),
    ("حضر م. علي ود. سمير. ثم", ["حضر م. علي ود. سمير.", "ثم"]),
    ("ولد عام 1990 م. في بغداد.", ["ولد عام 1990 م. في بغداد."]),
    ("انظر ص. 12 وج. 3 من الكتاب.", ["انظر ص. 12 وج. 3 من الكتاب."]),
    ("كتبه أ. محمد عام 1400 هـ. ثم رحل.", ["كتبه أ. محمد عام 1400 هـ. ثم رحل."]),
    ("بني عام 300 ق.م. تقريبا. ثم", ["بني عام 300 ق.م. تقريبا.", "ثم"]),
    ("بني عام 300 ق.م.وكان كبيرا.", ["بني عام 300 ق.م.وكان كبيرا."]),
    # Wikipedia-style periods with no space, citation marks
    ("انتهت الحرب.وبدأت مرحلة جديدة.", ["انتهت الحرب.", "وبدأت مرحلة جديدة."]),
    ("It ended.Then it began.", ["It ended.", "Then it began."]),
    ("انتهت الحرب.[3] وبدأت", ["انتهت الحرب.[3]", "وبدأت"]),
    ("انتهت الحرب.[3][4]وبدأت السلم.[12]", ["انتهت الحرب.[3][4]", "وبدأت السلم.[12]"]),
    ("انتهت الحرب.[3]\nوبدأت", ["انتهت الحرب.[3]", "وبدأت"]),
    ("انتهت الحرب[5]. وبدأت", ["انتهت الحرب[5].", "وبدأت"]),
    # URLs and e-mail addresses
    ("زار الموقع www.bbc.com اليوم. ثم", ["زار الموقع www.bbc.com اليوم.", "ثم"]),
    ("راسلنا على a.b@c.com الآن.", ["راسلنا على a.b@c.com الآن."]),
    (
        "See https://en.Wikipedia.org/wiki?Title=X now.",
        ["See https://en.Wikipedia.org/wiki?Title=X now."],
    ),
    ("زر www.bbc.com. ثم عد.", ["زر www.bbc.com.", "ثم عد."]),
    # ellipsis
    ("انتظر... ثم جاء… وبعدها انتهى.", ["انتظر...", "ثم جاء…", "وبعدها انتهى."]),
    ("He paused... then spoke.", ["He paused...", "then spoke."]),
    ("قال […] ثم سكت (!) وعاد (...) ثم.", ["قال […] ثم سكت (!) وعاد (...) ثم."]),
    # mixed Arabic and English
    (
        'قال الرئيس Biden: "We will leave." ثم غادر.',
        ['قال الرئيس Biden: "We will leave."', "ثم غادر."],
    ),
    ("أعلنت شركة Apple Inc. said it. ثم", ["أعلنت شركة Apple Inc. said it.", "ثم"]),
    # whitespace and odd characters
    ("", []),
    ("   \n\t \r\n \u2028 ", []),
    ("  جملة.  ", ["جملة."]),
    ("مَرْحَبًا بِكُمْ. أهـــلاً", ["مَرْحَبًا بِكُمْ.", "أهـــلاً"]),
    ("نص\u200dمع\u200cوصل. \u202eمعكوس. ثم", ["نص\u200dمع\u200cوصل.", "\u202eمعكوس.", "ثم"]),
    ("a\x00b. C\x07d", ["a\x00b.", "C\x07d"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_examples(text: str, expected: list[str]) -> None:
    assert sents(text) == expected


def test_offsets_are_python_str_indices() -> None:
    text = "🙂 أولاً. 𝔸 ثانياً."
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["🙂 أولاً.", "𝔸 ثانياً."]
    assert spans[1][1] == len(text)


# --- unbalanced quotes must not swallow the article -----------------------------------


def test_unclosed_quote_falls_back_to_splitting() -> None:
    body = " ".join(f"جملة رقم {i}." for i in range(200))
    for opener in ["«", "“", '"', "(", "["]:
        out = sents(f"قال {opener}{body}")
        assert len(out) == 200


def test_long_quote_beyond_span_is_split() -> None:
    inner = " ".join(f"جملة رقم {i}." for i in range(60))  # far more than 300 chars
    out = sents(f"قال «{inner}» ثم انتهى.")
    assert len(out) > 50


def test_short_quote_is_kept_whole() -> None:
    inner = " ".join(f"جملة {i}." for i in range(10)) + " وانتهى"
    assert sents(f"قال «{inner}» ثم انتهى.") == [f"قال «{inner}» ثم انتهى."]


def test_stray_closer_does_not_unbalance_other_quotes() -> None:
    assert sents("1) قال «نعم. لا» ثم. بعد") == ["1) قال «نعم. لا» ثم.", "بعد"]


# --- long sentences ---------------------------------------------------------------------


def test_long_line_without_terminator_is_capped_at_whitespace() -> None:
    text = " ".join(["كلمة"] * 25_000)  # ~125,000 chars, one line
    out = sents(text)
    assert all(len(s) <= MAX_SENTENCE_CHARS for s in out)
    assert all(s.startswith("كلمة") and s.endswith("كلمة") for s in out)
    assert " ".join(out) == text


def test_long_line_without_whitespace_is_hard_split() -> None:
    text = "ب" * 100_000
    spans = split_sentences(text)
    assert [e - s for s, e in spans] == [MAX_SENTENCE_CHARS] * 166 + [100_000 - 166 * 600]
    check_invariants(text, spans, MAX_SENTENCE_CHARS)


def test_small_max_chars() -> None:
    out = sents("هذه جملة طويلة جدا بلا نقطة أبدا في آخرها", max_chars=10)
    assert out == ["هذه جملة", "طويلة جدا", "بلا نقطة", "أبدا في", "آخرها"]
    assert sents("abcdefghij klm", max_chars=4) == ["abcd", "efgh", "ij", "klm"]
    assert sents("ab cd", max_chars=1) == ["a", "b", "c", "d"]


def test_split_at_last_whitespace_before_limit() -> None:
    assert sents("aa bb cc dd", max_chars=5) == ["aa bb", "cc dd"]
    assert sents("aa bb cc dd", max_chars=6) == ["aa bb", "cc dd"]
    assert sents("aa    bb", max_chars=3) == ["aa", "bb"]


def test_pieces_of_only_punctuation_are_dropped() -> None:
    assert sents("ab ------- cd", max_chars=8) == ["ab", "cd"]


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_sentences("نص", max_chars=0)


# --- speed ------------------------------------------------------------------------------


def test_five_megabyte_article_is_fast() -> None:
    paragraph = SEED.read_text(encoding="utf-8")
    extra = (
        "قال د. أحمد «نعم. لا» إن النمو بلغ 2.5 بالمئة.[3] انتهت الحرب.وبدأت (مرحلة؟) "
        "جديدة… ثم www.bbc.com و“اقتباس غير مغلق. "
    )
    text = ""
    while len(text.encode("utf-8")) < 5_000_000:
        text += paragraph + extra * 20 + "\n" + "كلمة " * 3000 + "\n"
    started = time.perf_counter()
    spans = split_sentences(text)
    assert time.perf_counter() - started < 5.0
    assert len(spans) > 10_000
    assert all(e - s <= MAX_SENTENCE_CHARS for s, e in spans)


@pytest.mark.parametrize(
    "text",
    [
        "." * 1_000_000,
        "(" * 200_000 + ")" * 200_000,
        "«" * 200_000 + "نص. " * 50_000,
        '"' * 300_000,
        "x." * 300_000,
        " " * 1_000_000 + "a",
        "[1]" * 200_000,
        "a.[1]" * 100_000,
    ],
    ids=["dots", "parens", "openers", "straight-quotes", "x-dot", "spaces", "cites", "a-cite"],
)
def test_pathological_inputs_are_linear(text: str) -> None:
    started = time.perf_counter()
    spans = split_sentences(text)
    assert time.perf_counter() - started < 5.0
    check_invariants(text, spans, MAX_SENTENCE_CHARS)


# --- properties -------------------------------------------------------------------------

ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءأإآةى"
LATIN = "abcXYZeMrDU"
ALPHABET = (
    ARABIC
    + LATIN
    + "0123456789٠١٢٣"
    + "    \n\r\u2028\t"
    + ".!?؟…«»“”\"()[]/,،;؛'’-"
    + "\u064e\u064f\u0650\u0651\u0652\u0640\u202e\u200d\u200c"
)
# Fragments that hit the special cases more often than single characters would.
FRAGMENTS = st.sampled_from(
    ["د.", "U.S.", "Mr.", "2.5", ".[3]", "...", "www.bb.com", "ق.م.", "هـ.", "\r\n", ". ", ".و"]
)
TEXT = st.lists(st.one_of(st.text(alphabet=ALPHABET, max_size=30), FRAGMENTS), max_size=40).map(
    "".join
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_property_invariants(text: str) -> None:
    check_invariants(text, split_sentences(text), MAX_SENTENCE_CHARS)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT, st.integers(min_value=1, max_value=25))
def test_property_invariants_small_max_chars(text: str, max_chars: int) -> None:
    check_invariants(text, split_sentences(text, max_chars), max_chars)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_property_invariants_any_unicode(text: str) -> None:
    check_invariants(text, split_sentences(text, 20), 20)


@settings(max_examples=200)
@given(TEXT)
def test_property_line_breaks_always_split(text: str) -> None:
    for start, end in split_sentences(text):
        assert not any(ch in "\n\r\u2028\u2029" for ch in text[start:end])


@settings(max_examples=200)
@given(TEXT)
def test_property_deterministic_and_prefix_stable(text: str) -> None:
    # Appending a new line never changes the sentences of the earlier lines.
    spans = split_sentences(text)
    assert split_sentences(text) == spans
    assert split_sentences(text + "\nجملة أخرى.")[: len(spans)] == spans
