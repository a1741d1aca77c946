#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts the local stack
# (tansu + ClickHouse on 127.0.0.1), runs formatting/lint checks, unit tests
# and the integration tests against the real services (tests/deploy.rs checks
# the production deployment files offline), then the training/inference
# parity check. .ci/run calls exactly this. It also runs the ClickHouse
# cluster test (tests/cluster.rs: four servers and ZooKeeper, 2-4 min; it is
# #[ignore]d in plain `cargo test`); VOC_TEST_CLUSTER=0 skips it.
set -euo pipefail
source "$(dirname "$0")/local/env.sh"
cd "$VOC_ROOT"

"$VOC_ROOT/deploy/install.sh"
source "$VOC_ROOT/deploy/local/env.sh"   # again: now the venv (and its ONNX Runtime) exists
"$VOC_ROOT/deploy/stack.sh" start
# The TLS tests start a secured broker and ClickHouse (deploy/local/secure.sh); stop them at the end.
trap '"$VOC_ROOT/deploy/local/secure.sh" stop "$VOC_DATA_DIR/secure" >/dev/null 2>&1 || true' EXIT
[ -n "${ORT_DYLIB_PATH:-}" ] || die "ONNX Runtime library not found in $VOC_VENV (deploy/install.sh should have installed it)"

log "labelled data: the checkable rules of models/LABELLING.md"
"$VOC_VENV/bin/python" models/check_data.py --self-test
"$VOC_VENV/bin/python" models/check_data.py
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo test (unit + integration against the local stack)"
cargo test --workspace --all-targets
if [ "${VOC_TEST_CLUSTER:-1}" = 1 ]; then
    # Four ClickHouse servers and ZooKeeper: 2-4 min, so it runs alone, after the rest.
    log "cluster test (deploy/local/cluster.sh)"
    cargo test --test cluster -- --ignored
    "$VOC_ROOT/deploy/local/cluster.sh" stop
fi
log "model parity: Rust features + ONNX Runtime in Python == voc classify"
"$VOC_VENV/bin/python" models/parity.py --voc "$VOC_ROOT/target/debug/voc"
log "encoder tokenizer parity: voc featurize --encoder-meta == models/encoder/tokenizer.py"
"$VOC_VENV/bin/python" models/encoder/parity.py --voc "$VOC_ROOT/target/debug/voc" --skip-classify
