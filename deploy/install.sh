#!/usr/bin/env bash
# Install what the local voc stack needs and is missing; safe to re-run.
#   - Debian: ClickHouse server/client, build tools for librdkafka (gcc, make, cmake...),
#     OpenSSL headers (TLS to Kafka and ClickHouse), stunnel4 (TLS tests),
#     chromium (headless, for the report test), prometheus (promtool tests the
#     alerting rules; the server scrapes a worker in tests/prometheus.rs),
#     zookeeper (the local ClickHouse cluster, deploy/local/cluster.sh)
#   - tansu (Kafka-protocol broker), built with cargo once (~15-20 min on 2 cores)
#   - a Python venv (.venv) with onnxruntime (its libonnxruntime.so is what the
#     Rust worker loads) and the training/test tools from models/requirements.txt,
#     kubernetes-validate (deploy/k8s/requirements.txt) for the manifest checks,
#     and chdb-core (deploy/clickhouse/requirements.txt): a current ClickHouse
#     engine in-process, for the schema and query checks of tests/modern.rs
set -euo pipefail
source "$(dirname "$0")/local/env.sh"

need_apt=()
command -v clickhouse-server >/dev/null || need_apt+=(clickhouse-server clickhouse-client)
command -v make >/dev/null || need_apt+=(make)
command -v gcc >/dev/null || need_apt+=(gcc g++)
command -v curl >/dev/null || need_apt+=(curl)
# OpenSSL for TLS and SASL/SCRAM to Kafka (librdkafka) and HTTPS to ClickHouse.
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v openssl >/dev/null || need_apt+=(openssl)
# A TLS terminator in front of tansu for the TLS tests (tansu ignores --cert/--key).
command -v stunnel4 >/dev/null || need_apt+=(stunnel4)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
# Headless Chromium renders `voc report` in the tests (charts must draw).
command -v chromium >/dev/null || need_apt+=(chromium)
# promtool (Debian's prometheus package) unit-tests deploy/prometheus/rules.yml;
# the prometheus server of the same package scrapes a worker in a test.
# On a host run by systemd the package also enables a Prometheus server on
# :9090 (`systemctl disable --now prometheus` if unwanted).
{ command -v promtool && command -v prometheus; } >/dev/null || need_apt+=(prometheus)
# ZooKeeper (with Java) coordinates the replicas of the local ClickHouse
# cluster; deploy/local/cluster.sh runs it from its jar on a port of its own.
# On a host run by systemd the package may also start a ZooKeeper on :2181.
[ -f /usr/share/java/zookeeper.jar ] || need_apt+=(zookeeper)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing Debian packages: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v tansu >/dev/null; then
    log "building tansu $VOC_TANSU_VERSION (one time, ~15-20 min on 2 cores)"
    tmp_target="$(mktemp -d)"
    CARGO_TARGET_DIR="$tmp_target" cargo install "tansu@$VOC_TANSU_VERSION" --locked --features dynostore,libsql
    rm -rf "$tmp_target"
fi

if [ ! -x "$VOC_VENV/bin/python" ]; then
    log "creating Python venv $VOC_VENV"
    python3 -m venv "$VOC_VENV"
fi
if ! "$VOC_VENV/bin/python" -c "import onnxruntime, onnx, sklearn, snownlp, confluent_kafka, jieba, zhconv, clickhouse_driver" 2>/dev/null; then
    log "installing Python packages (models/requirements.txt)"
    "$VOC_VENV/bin/pip" install -q --disable-pip-version-check -r "$VOC_ROOT/models/requirements.txt"
fi
if ! "$VOC_VENV/bin/python" -c "import kubernetes_validate, yaml" 2>/dev/null; then
    log "installing Python packages (deploy/k8s/requirements.txt)"
    "$VOC_VENV/bin/pip" install -q --disable-pip-version-check -r "$VOC_ROOT/deploy/k8s/requirements.txt"
fi
if ! "$VOC_VENV/bin/python" -c "import chdb" 2>/dev/null; then
    log "installing Python packages (deploy/clickhouse/requirements.txt)"
    "$VOC_VENV/bin/pip" install -q --disable-pip-version-check -r "$VOC_ROOT/deploy/clickhouse/requirements.txt"
fi
log "install complete: tansu $(tansu --version 2>/dev/null | head -n1 || echo '?'), clickhouse-server present, venv $VOC_VENV"
