# Shared settings of the local-stack scripts; source it. Override any of these
# in the environment before running a script.
VOC_ROOT="${VOC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
VOC_DATA_DIR="${VOC_DATA_DIR:-$VOC_ROOT/.voc}"
VOC_KAFKA_PORT="${VOC_KAFKA_PORT:-9092}"
VOC_CLICKHOUSE_HTTP_PORT="${VOC_CLICKHOUSE_HTTP_PORT:-8123}"
VOC_CLICKHOUSE_TCP_PORT="${VOC_CLICKHOUSE_TCP_PORT:-9000}"
VOC_TANSU_VERSION="${VOC_TANSU_VERSION:-0.6.0}"
VOC_VENV="${VOC_VENV:-$VOC_ROOT/.venv}"
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

# What the voc binary and the tests read (VOC_<SECTION>__<KEY> overrides config).
export VOC_KAFKA__BROKERS="${VOC_KAFKA__BROKERS:-127.0.0.1:$VOC_KAFKA_PORT}"
export VOC_CLICKHOUSE__URL="${VOC_CLICKHOUSE__URL:-http://127.0.0.1:$VOC_CLICKHOUSE_HTTP_PORT}"
# The ONNX Runtime library the Rust worker loads comes from the venv's onnxruntime wheel.
if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    for lib in "$VOC_VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*; do
        if [ -f "$lib" ]; then export ORT_DYLIB_PATH="$lib"; break; fi
    done
fi

log() { printf '\033[1;34m[voc]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[voc] error:\033[0m %s\n' "$*" >&2; exit 1; }
