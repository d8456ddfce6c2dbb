"""The reader: span decoding, weights loading and its errors, and the committed model."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa import reader as R
from tests.conftest import SEEDS

SENTENCE_CHARS = st.sampled_from(list("ابتثجحخدذرسشصضطظعغفقكلمنهوي") + [" ", "،", ".", "«", "»",
                                                                        "1", "9", "A"])


@settings(max_examples=200, deadline=None)
@given(sentence=st.text(SENTENCE_CHARS, min_size=1, max_size=60), seed=st.integers(0, 10**6),
       head=st.integers(0, 20))
def test_best_span_lies_inside_the_sentence_and_slices_back(sentence, seed, head) -> None:
    # Tokens: one per 1-3 characters of the sentence, after `head` characters of headline.
    rng = random.Random(seed)
    offsets, pos = [(0, 0)], 0  # a special token first
    while pos < len(sentence):
        step = rng.randint(1, 3)
        offsets.append((head + pos, head + min(pos + step, len(sentence))))
        pos += step
    offsets = np.array(offsets)
    mask = np.array([False] + [True] * (len(offsets) - 1))
    starts, ends = (np.array([rng.gauss(0, 3) for _ in offsets]) for _ in range(2))
    span = R.best_span(starts, ends, mask, offsets, head, sentence)
    if span is None:
        return
    a, b = span
    assert 0 <= a < b <= len(sentence)
    phrase = sentence[a:b]
    assert phrase == phrase.strip() and phrase[0] not in R._EDGE and phrase[-1] not in R._EDGE


def test_best_span_is_none_without_sentence_tokens() -> None:
    offsets = np.array([(0, 0), (0, 3)])
    assert R.best_span(np.zeros(2), np.zeros(2), np.zeros(2, bool), offsets, 0, "abc") is None


def test_best_span_widens_a_cut_word_and_its_number() -> None:
    sentence = "عبر جسرٍ بنسبة 75.8% تقريبا"
    # tokens: عبر | جس | رٍ | بنسبة | 75 | . | 8% | تقريبا ; the heads pick "جس" and then "8%"
    cuts = [(0, 3), (4, 6), (6, 8), (9, 14), (15, 17), (17, 18), (18, 20), (21, 27)]
    offsets, mask = np.array(cuts), np.ones(len(cuts), bool)
    starts, ends = np.full(len(cuts), -5.0), np.full(len(cuts), -5.0)
    starts[1] = ends[1] = 5.0
    a, b = R.best_span(starts, ends, mask, offsets, 0, sentence)
    assert sentence[a:b] == "جسرٍ"
    assert R.best_span(starts, ends, mask, offsets, 0, sentence, words=False) == (4, 6)
    starts[1] = ends[1] = -5.0
    starts[6] = ends[6] = 5.0
    a, b = R.best_span(starts, ends, mask, offsets, 0, sentence)
    assert sentence[a:b] == "75.8%"


def test_whole_words_stops_at_spaces_and_punctuation() -> None:
    text = "قال: «الجيش»، وانسحب"
    assert R.whole_words(text, 6, 8) == (6, 11)  # inside «الجيش», not past the quotes
    assert R.whole_words(text, 0, 3) == (0, 3)
    assert R.whole_words(text, 15, 17) == (14, 20)
    assert R.whole_words("سنة 1,000 و2", 5, 9) == (4, 9)


def test_length_penalty_prefers_the_shorter_of_two_near_equal_spans() -> None:
    sentence = "في عام 2018 وفي بيروت"
    cuts = [(0, 2), (3, 6), (7, 11), (12, 15), (16, 21)]
    offsets, mask = np.array(cuts), np.ones(len(cuts), bool)
    starts = np.array([0.0, 3.0, 2.95, 0.0, 0.0])
    ends = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    a, b = R.best_span(starts, ends, mask, offsets, 0, sentence, length_penalty=0.0)
    assert sentence[a:b] == "عام 2018"
    a, b = R.best_span(starts, ends, mask, offsets, 0, sentence, length_penalty=0.1)
    assert sentence[a:b] == "2018"


def test_trim_span() -> None:
    assert R.trim_span(" «2400 شخص»، ", 0, 13) == (2, 10)
    assert R.trim_span("...", 0, 3) is None


def test_passage_text_puts_the_headline_before_the_sentence() -> None:
    text, start = R.passage_text("عنوان  المقال", "الجملة.")
    assert text == "passage: عنوان المقال\nالجملة." and text[start:] == "الجملة."
    text, start = R.passage_text("الجملة.", "الجملة.")  # a headline is not repeated
    assert text[start:] == "الجملة." and text == "passage: الجملة."


@pytest.fixture
def weights_copy(tmp_path):
    if not (R.WEIGHTS_DIR / R.WEIGHTS_FILE).exists():
        pytest.skip("no reader weights in this checkout")
    out = tmp_path / "reader_weights"
    shutil.copytree(R.WEIGHTS_DIR, out)
    return out


def test_missing_weights_name_the_file_and_the_fix(weights_copy) -> None:
    (weights_copy / R.WEIGHTS_FILE).unlink()
    with pytest.raises(R.ReaderError,
                       match=r"reader\.safetensors is missing.*git checkout -- qa/reader_weights/"):
        R.load_config(weights_copy)


def test_damaged_weights_are_refused(weights_copy) -> None:
    path = weights_copy / R.WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(R.ReaderError, match="damaged"):
        R.load_config(weights_copy)


def test_unreadable_config_is_refused(weights_copy) -> None:
    (weights_copy / R.CONFIG_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(R.ReaderError, match="unreadable"):
        R.load_config(weights_copy)


def test_committed_config_records_its_weights_hash() -> None:
    cfg_path = R.WEIGHTS_DIR / R.CONFIG_FILE
    if not cfg_path.exists():
        pytest.skip("no reader weights in this checkout")
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
    assert config["sha256"] == R.file_sha256(R.WEIGHTS_DIR / R.WEIGHTS_FILE)
    assert (R.WEIGHTS_DIR / R.WEIGHTS_FILE).stat().st_size < 25 * 2**20


# -- the real reader (slow: loads the model) ---------------------------------------------------
@pytest.mark.slow
def test_weights_that_do_not_fit_the_network_are_refused(encoder) -> None:
    from safetensors.torch import load_file

    state = load_file(str(R.WEIGHTS_DIR / R.WEIGHTS_FILE))
    net = R.ReaderNet(R._shared_base(encoder.transformer(), 4))
    lacking = {k: v for k, v in state.items() if not k.startswith("answer.")}
    with pytest.raises(R.ReaderError, match=r"missing \['answer\.bias'"):
        R.load_trainable_frozen(net, lacking, 4)
    shared = dict(state)
    shared["base.embeddings.word_embeddings.weight"] = state["answer.weight"]
    with pytest.raises(R.ReaderError, match="unexpected.*word_embeddings"):
        R.load_trainable_frozen(net, shared, 4)
    with pytest.raises(R.ReaderError, match="missing"):
        R.load_trainable_frozen(net, state, 5)  # a config claiming more layers than trained



def test_padding_to_a_shape_bucket_adds_only_masked_tokens(encoder) -> None:
    text = (SEEDS / "000_f4163db1c6c8c2c8.txt").read_text(encoding="utf-8")
    title, *lines = text.splitlines()
    pairs = [(title, line) for line in lines if line.strip()][:4]
    questions = ["متى غادرت القوات؟"] * len(pairs)
    tokenizer, config = encoder.tokenizer(), R.load_config(R.WEIGHTS_DIR)
    exact = R.encode_pairs(tokenizer, questions, pairs, config)
    padded = R.encode_pairs(tokenizer, questions, pairs, config, pad_to_multiple_of=32)
    n = exact[0]["input_ids"].shape[1]
    assert padded[0]["input_ids"].shape[1] == -(-n // 32) * 32
    assert (padded[0]["input_ids"][:, :n] == exact[0]["input_ids"]).all()
    assert not padded[0]["attention_mask"][:, n:].any()  # the model never sees them
    assert (padded[2][:, :n] == exact[2]).all() and not padded[2][:, n:].any()  # nor spans
    assert padded[3] == exact[3]


@pytest.fixture(scope="session")
def real_reader(encoder):
    return R.Reader.load(encoder)


@pytest.mark.slow
def test_real_reader_prefers_the_answering_sentence(real_reader) -> None:
    text = (SEEDS / "000_f4163db1c6c8c2c8.txt").read_text(encoding="utf-8")
    title = text.splitlines()[0]
    gold = next(line for line in text.splitlines() if "2400" in line)
    other = next(line for line in text.splitlines() if "26 يوليو" in line)
    a, b = real_reader.read("كم عدد الجنود غير الأمريكيين في العراق؟", [(title, gold),
                                                                       (title, other)])
    assert a.score > b.score and a.probability > b.probability
    assert a.span is not None and "2400" in gold[a.span[0]:a.span[1]]


@pytest.mark.slow
def test_real_reader_answers_with_offsets_into_the_article(seed_index, encoder, real_reader):
    from qa import Assistant

    bot = Assistant(seed_index, encoder, reader=real_reader, watch=False)
    ans = bot.ask("كم عدد الجنود غير الأمريكيين في العراق؟")
    assert ans.answered and "2400" in ans.answer
    c = ans.citations[0]
    article = bot.article(c.article_id)
    assert article.text[c.start:c.end] == c.sentence
    assert article.text[c.answer_start:c.answer_end] == ans.answer
    assert not bot.ask("ما هي عاصمة اليابان؟").answered


@pytest.mark.slow
def test_diacritized_seed_questions_get_their_plain_twins_answers(seed_index, encoder,
                                                                  real_reader) -> None:
    from qa import Assistant
    from tests.qa.test_answer import diacritize, seed_questions

    bot = Assistant(seed_index, encoder, reader=real_reader, watch=False)
    for i, q in enumerate(seed_questions()[:12]):
        plain, marked = bot.ask(q), bot.ask(diacritize(q, i))
        assert (marked.answered, marked.citations, marked.answer) == (
            plain.answered, plain.citations, plain.answer)
