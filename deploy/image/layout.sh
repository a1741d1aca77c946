#!/usr/bin/env bash
# The file tree of the voc container image, built under OUT_DIR exactly as the
# image holds it (OUT_DIR/opt/... is /opt/... in the image). The Dockerfile's
# builder stage runs this script and copies the tree onto the runtime image's
# root; tests/image.rs runs it with the debug binary and classifies text with
# nothing but the tree.
#
#   deploy/image/layout.sh OUT_DIR [VOC_BINARY]
#
# VOC_BINARY defaults to target/release/voc. ONNX Runtime comes from the
# onnxruntime wheel of the project venv ($VOC_VENV, default .venv, as
# deploy/local/env.sh finds it). OUT_DIR must not exist or be empty.
#
#   /opt/voc/bin/voc                          the binary
#   /opt/voc/models/voc-text.onnx             the text model (enrich.model_path)
#   /opt/voc/models/voc-text.meta.json        its sidecar (tag order, thresholds)
#   /opt/onnxruntime/lib/libonnxruntime.so.*  the library (+ libonnxruntime.so link)
#   /etc/voc/voc.toml                         deploy/voc.example.toml, model_path absolute
#   /opt/voc/image.env                        the image's environment (the
#                                             Dockerfile's ENV lines say the same)
#
# The taxonomy, the jieba dictionary and the IDF table are compiled into the
# binary: no other file is read.
set -euo pipefail

die() { printf 'layout.sh: %s\n' "$*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: deploy/image/layout.sh OUT_DIR [VOC_BINARY]"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$1"
BIN="${2:-$ROOT/target/release/voc}"
VENV="${VOC_VENV:-$ROOT/.venv}"

[ -x "$BIN" ] || die "$BIN: no voc binary (cargo build --release, or pass VOC_BINARY)"
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then die "$OUT is not empty"; fi

MODEL="$ROOT/models/voc-text.onnx"
META="$ROOT/models/voc-text.meta.json"
for f in "$MODEL" "$META" "$ROOT/deploy/voc.example.toml"; do
    [ -f "$f" ] || die "$f missing"
done

ORT_LIB=""
for lib in "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*; do
    if [ -f "$lib" ]; then ORT_LIB="$lib"; break; fi
done
[ -n "$ORT_LIB" ] || die "no libonnxruntime.so.* in the onnxruntime package of $VENV (deploy/install.sh, or set VOC_VENV)"
ORT_NAME="$(basename "$ORT_LIB")"

install -d -m 0755 "$OUT/opt/voc/bin" "$OUT/opt/voc/models" "$OUT/opt/onnxruntime/lib" "$OUT/etc/voc"
install -m 0755 "$BIN" "$OUT/opt/voc/bin/voc"
install -m 0644 "$MODEL" "$META" "$OUT/opt/voc/models/"
install -m 0755 "$ORT_LIB" "$OUT/opt/onnxruntime/lib/$ORT_NAME"
# The unversioned name is what the manifests and the environment use: a new
# onnxruntime changes no path outside this directory.
ln -s "$ORT_NAME" "$OUT/opt/onnxruntime/lib/libonnxruntime.so"

# The example configuration with the image's model path (it is relative
# there). onnxruntime_path stays unset: ORT_DYLIB_PATH names the library.
sed 's|^model_path = "models/voc-text.onnx"$|model_path = "/opt/voc/models/voc-text.onnx"|' \
    "$ROOT/deploy/voc.example.toml" > "$OUT/etc/voc/voc.toml"
grep -qx 'model_path = "/opt/voc/models/voc-text.onnx"' "$OUT/etc/voc/voc.toml" \
    || die "deploy/voc.example.toml: no 'model_path = \"models/voc-text.onnx\"' line to rewrite"
chmod 0644 "$OUT/etc/voc/voc.toml"

cat > "$OUT/opt/voc/image.env" <<'ENV'
ORT_DYLIB_PATH=/opt/onnxruntime/lib/libonnxruntime.so
VOC_ENRICH__MODEL_PATH=/opt/voc/models/voc-text.onnx
VOC_METRICS__LISTEN=0.0.0.0:9464
ENV
chmod 0644 "$OUT/opt/voc/image.env"

printf 'layout.sh: %s: voc, model %s, ONNX Runtime %s\n' "$OUT" "$(basename "$MODEL")" "$ORT_NAME" >&2
