#!/usr/bin/env bash
# Issue 13's quality figures in one go, with and without the reader side by side (--modes both):
# TyDi-ar (held out) and XQuAD-ar, aaqad-heldout (first 1,000 questions: AUC, answer F1/EM),
# XQuAD-ar among 3,000 ANT distractor articles, and the four written seed sets.
# Results: bench/results/eval_*.json; tables on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DATA:-../shared/data}
R=bench/results
Q=bench/questions
E=".venv/bin/daleel eval --modes both"
$E "$D/tydiqa-goldp-dev.ar.json" "$D/xquad.ar.json" --out $R/eval_xquad_tydi.json
$E "$D/aaqad-heldout.ar.json" --limit 1000 --out $R/eval_aaqad_heldout.json
$E "$D/xquad.ar.json" --distractors "$D/ant_news_v2.1.jsonl.gz" --n-distractors 3000 \
  --out $R/eval_xquad_distractors.json
for s in seed seed-check seed-holdout seed-fresh; do
  $E $Q/$s.jsonl --corpus seeds --unanswerable $Q/$s-unanswerable.jsonl \
    --out $R/eval_${s//-/_}.json
done
