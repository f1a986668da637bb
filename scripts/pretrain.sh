#!/usr/bin/env bash
# Reproduce the shipped detector (model/pretrained/activate.keras): mix the pretraining set
# from its two word banks, then train it with the project's own engine.
#
# The banks are built on any machine with the speech engines (the text-to-speech part):
#   python -m model make-data $RECIPE --examples 16 --dev-examples 16 --out /tmp/bankonly
# leaves them in .cache/banks/ (~50 MB each); mixing and training need only numpy, scipy,
# soxr and Keras (torch or JAX backend on a GPU machine).
#
# Usage: bash scripts/pretrain.sh OUTDIR [EPOCHS] [PRECISION] [BATCH] [INIT]
#   OUTDIR gets pretrain.sqlite and the run folder (model.keras, TensorBoard scalars).
#   Environment: PRETRAIN_DATA (dataset folder), PRETRAIN_EXAMPLES (training clips mixed,
#   default 16000; the first 16000 are the same clips whatever the count),
#   PRETRAIN_LR (Adam learning rate, default 1e-3), PRETRAIN_STAGE=data (mix only),
#   PRETRAIN_SPEC (SpecAugment masks: off, on or T,FRAMES,F,BINS; default off),
#   PRETRAIN_SCHEDULE (learning rate: constant or cosine; default constant),
#   PRETRAIN_MIX (extra make-data options, e.g. "--snr-db=-5,30 --background-pool 0").
set -euo pipefail
OUT="${1:?output folder}"; EPOCHS="${2:-30}"; PREC="${3:-fp32}"; BATCH="${4:-64}"; INIT="${5:-scratch}"
DATA="${PRETRAIN_DATA:-/tmp/XY_pretrain}"; EXAMPLES="${PRETRAIN_EXAMPLES:-16000}"
LR="${PRETRAIN_LR:-1e-3}"
RECIPE="--seed 2026 --neural-share 0.6 --bank-trigger-clips 1200 --bank-other-clips 1000"
mkdir -p "$OUT"
if [ ! -f "$DATA/meta.json" ]; then
  python3 -m model make-data $RECIPE ${PRETRAIN_MIX:-} --examples "$EXAMPLES" --dev-examples 1000 --out "$DATA" \
    --workers "$(nproc)" 2>&1 | tr '\r' '\n' | grep -v "it/s\]$" | tail -4
fi
[ "${PRETRAIN_STAGE:-}" = data ] && exit 0
python3 -m model train --precisions "$PREC" --batch-size "$BATCH" --epochs "$EPOCHS" --init "$INIT" --lr "$LR" \
  --lr-schedule "${PRETRAIN_SCHEDULE:-constant}" --spec-augment "${PRETRAIN_SPEC:-off}" \
  --dataset "$DATA" --store "$OUT/pretrain.sqlite" --name "pretrain $PREC b$BATCH $INIT"
