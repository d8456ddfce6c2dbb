"""Benchmark: follow-up questions in a conversation (issue 14).

    .venv/bin/python bench/followups.py                       # bench/questions/chains.jsonl
    .venv/bin/python bench/followups.py --set chains-unseen   # kept unseen until the end
    .venv/bin/python bench/followups.py --set chains-fresh    # written later, by a helper
    .venv/bin/python bench/followups.py --set chains-blind    # written blind, 2026-12-07
    .venv/bin/python bench/followups.py --context-bonus 0 5 20  # sweep the favour

Each chain (bench/questions/chains*.jsonl, written before the conversation code changed) is a
self-contained question followed by 1-3 follow-ups ("ومتى حدث ذلك؟", "وكم عددهم؟"), each with
a substring of the one sentence of its article that answers it. The chain is asked in order
through Assistant.ask(question, history=answers so far), as the chat does. A turn is right
when the sentence the answer rests on (``Answer.best_citation``) is the gold one (the
article's only sentence holding the substring; a turn whose ``gold`` is null asks what the
article does not say, and is right when declined). The index, one for every set: the seed
article, the ANT articles the chains of all sets are about, and the first ``--distractors`` ANT
articles (300 by default), embedded with the bundled model.

Prints a table (first turns, follow-up turns) and writes bench/results/followups_<set>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.corpus import read_corpus  # noqa: E402
from index.encoder import Encoder  # noqa: E402
from index.segment import split_sentences  # noqa: E402
from qa.assistant import Assistant  # noqa: E402
from qa.evaluate import DEFAULT_WORK_DIR, prepare_index  # noqa: E402
from qa.reader import Reader  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"
QUESTIONS = ROOT / "bench" / "questions"


def articles_for(distractors: int) -> list:
    """The seed article, the articles of every chain set and the first ``distractors`` ANT
    articles: one index for all sets, so their figures compare."""
    wanted = {json.loads(line)["article"] for path in sorted(QUESTIONS.glob("chains*.jsonl"))
              for line in path.read_text("utf-8").splitlines()}
    seeds = read_corpus([ROOT / "seeds"]).articles
    records, picked = [], set()
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            rec = json.loads(line)
            if rec["docno"] in wanted or n < distractors:
                records.append(line)
                picked.add(rec["docno"])
    tmp = DEFAULT_WORK_DIR / "followups-src.jsonl"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("".join(records), encoding="utf-8")
    articles = seeds + read_corpus([tmp]).articles
    missing = wanted - {a.id for a in articles}
    if missing:
        raise SystemExit(f"articles not found: {sorted(missing)}")
    return articles


def gold_sentence(article, gold: str) -> tuple[int, int]:
    """The (start, end) of the one sentence of ``article`` holding ``gold``."""
    spans = [(s, e) for s, e in split_sentences(article.text) if gold in article.text[s:e]]
    if len(spans) != 1:
        raise SystemExit(f"gold {gold!r} is in {len(spans)} sentences of {article.id}")
    return spans[0]


def run(bot: Assistant, chains: list[dict], by_id: dict) -> dict:
    """Ask every chain in order; each turn right when its first quote is the gold sentence."""
    rows, started = [], time.perf_counter()
    for chain in chains:
        history = []
        for turn_no, turn in enumerate(chain["turns"]):
            gold = (None if turn["gold"] is None
                    else gold_sentence(by_id[chain["article"]], turn["gold"]))
            answer = bot.ask(turn["q"], history=history)
            before = history[-1].best_citation if history else None
            history.append(answer)
            first = answer.best_citation  # the sentence judged best (a neighbour may precede it)
            # What was ranked first, quoted or (when declined) offered as the closest sentence.
            top = first or (answer.related[0] if answer.related else None)

            def is_gold(c, article=chain["article"], gold=gold) -> bool:
                return bool(c and c.article_id == article and (c.start, c.end) == gold)

            rows.append({"chain": chain["id"], "turn": turn_no, "question": turn["q"],
                         "answerable": gold is not None,
                         "right": is_gold(first) if gold else not answer.answered,
                         "ranked_first": is_gold(top),
                         "answered": answer.answered, "probability": answer.probability,
                         # the sentence put first is the one the previous turn quoted
                         "repeats_previous": bool(top and before and (
                             top.article_id, top.start) == (before.article_id, before.start)),
                         "quoted": first.sentence if first else None})

    def share(first_turns: bool) -> dict:
        sel = [r for r in rows if (r["turn"] == 0) == first_turns and r["answerable"]]
        return {"turns": len(sel), "right": sum(r["right"] for r in sel),
                "right_pct": round(100 * sum(r["right"] for r in sel) / max(1, len(sel)), 1),
                "ranked_first": sum(r["ranked_first"] for r in sel),
                "declined": sum(not r["answered"] for r in sel)}

    unanswerable = [r for r in rows if not r["answerable"]]
    return {"first": share(True), "follow_up": share(False),
            "unanswerable": {"turns": len(unanswerable),
                             "declined": sum(r["right"] for r in unanswerable)},
            "seconds": round(time.perf_counter() - started, 1), "turns": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="chains")
    ap.add_argument("--distractors", type=int, default=300)
    ap.add_argument("--no-reader", action="store_true", help="retrieval only")
    ap.add_argument("--reader-weights", type=Path, default=None,
                    help="another reader's weights folder (default: the committed one)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--context-bonus", type=float, nargs="+", default=None,
                    help="sweep Settings.context_bonus over these values (default: as shipped)")
    args = ap.parse_args()
    chains = [json.loads(line) for line in
              (QUESTIONS / f"{args.set}.jsonl").read_text("utf-8").splitlines()]
    encoder = Encoder()
    articles = articles_for(args.distractors)
    by_id = {a.id: a for a in articles}
    index_dir, _ = prepare_index(DEFAULT_WORK_DIR / f"followups+d{args.distractors}", articles,
                                 encoder, "title")
    reader = None if args.no_reader else Reader.load(encoder, args.reader_weights)
    bot = Assistant(index_dir, encoder, reader=reader, watch=False)
    results = []
    for bonus in args.context_bonus or [bot.settings.context_bonus]:
        bot._current().settings = dataclasses.replace(bot.settings, context_bonus=bonus)
        results.append(run(bot, chains, by_id) | {"context_bonus": bonus})
    print("| set | context bonus | first turns right | follow-ups right | "
          "follow-ups ranked first | follow-ups declined |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        f, u = r["first"], r["follow_up"]
        print(f"| {args.set} | {r['context_bonus']:g} | {f['right']}/{f['turns']}"
              f" ({f['right_pct']} %) | {u['right']}/{u['turns']} ({u['right_pct']} %) | "
              f"{u['ranked_first']} | {u['declined']} |")
        if r["unanswerable"]["turns"]:
            n = r["unanswerable"]
            print(f"  unanswerable follow-ups declined: {n['declined']}/{n['turns']}")
    if len(results) == 1:
        for t in results[0]["turns"]:
            if t["turn"] and not t["right"]:
                print(f"  miss {t['chain']}.{t['turn']}: {t['question']} -> {t['quoted']}")
    result = {"set": args.set, "chains": len(chains), "reader": not args.no_reader,
              "reader_weights": str(args.reader_weights or "qa/reader_weights"),
              "distractors": args.distractors, "runs": results}
    out = args.out or ROOT / "bench" / "results" / f"followups_{args.set.replace('-', '_')}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
