#!/usr/bin/env bash
# Issue 13's quality figures in one go, retrieval alone and each reader side by side:
# TyDi-ar (held out), XQuAD-ar's eval half (the reader trains on its other half; every paragraph
# is still indexed), aaqad-heldout (first 1,000 questions: AUC, answer F1/EM), XQuAD-ar's eval
# half among 3,000 ANT distractor articles, and the four written seed sets.
#   READERS="DIR1 DIR2" bash bench/quality.sh   # reader weights folders (default: the committed)
#   RESULTS=bench/results/RUN bash bench/quality.sh   # where the results go (default below)
# Each reader runs with the fusion weight and thresholds fitted for it (its reader.json 'use').
# Results: bench/results/eval_*.json (or RESULTS/eval_*.json); tables on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DATA:-../shared/data}
R=${RESULTS:-bench/results}
mkdir -p "$R"
Q=bench/questions
W=""
for r in ${READERS:-qa/reader_weights}; do W="$W --reader-weights $r"; done
E=".venv/bin/daleel eval --modes both $W"
$E "$D/tydiqa-goldp-dev.ar.json" --out $R/eval_tydi.json
$E "$D/xquad.ar.json" --part eval --out $R/eval_xquad_eval_half.json
$E "$D/aaqad-heldout.ar.json" --limit 1000 --out $R/eval_aaqad_heldout.json
$E "$D/xquad.ar.json" --part eval --distractors "$D/ant_news_v2.1.jsonl.gz" --n-distractors 3000 \
  --out $R/eval_xquad_eval_half_distractors.json
for s in seed seed-check seed-holdout seed-fresh; do
  $E $Q/$s.jsonl --corpus seeds --unanswerable $Q/$s-unanswerable.jsonl \
    --out $R/eval_${s//-/_}.json
done
