"""XQuAD-ar sentence R@1 when the reader reads only the best D retrieved sentences (D = 1..8),
fused as the assistant does (weight 0.75): the cost/quality trade-off of qa.rerank.DEPTH.

    .venv/bin/python bench/reader_depth.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_reader_use import (  # noqa: E402
    DEFAULT_WORK_DIR,
    Assistant,
    Encoder,
    Reader,
    assign_gold,
    fused_order,
    index_name,
    load_dataset,
    prepare_index,
    read_all,
)

encoder = Encoder(backend="openvino-int8"); reader = Reader.load(encoder.float32())
xquad = Path('../shared/data/xquad.ar.json')
articles, questions = load_dataset(xquad)
index_dir, _ = prepare_index(DEFAULT_WORK_DIR / index_name(xquad, None, (), "title"), articles, encoder, "title")
bot = Assistant(index_dir, encoder.float32(), reader=reader, watch=False)
assign_gold(questions, bot.data)
qs = [q for q in questions if q.gold]
read = read_all(bot, qs)
for d in range(1, 9):
    top = [s[:d][fused_order(s[:d], r[:d], 0.75)[0]].row in q.gold for q, (s, r) in zip(qs, read, strict=True)]
    print(d, round(100*sum(top)/len(questions), 2))
