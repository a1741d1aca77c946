# Shared by the benchmark scripts; source it after deploy/local/env.sh.
#
# A throwaway broker per run: the local tansu slows down as earlier runs'
# topics pile up in its SQLite file (and tansu 0.6.0 cannot delete one topic),
# so by default a benchmark starts its own tansu with empty storage on
# VOC_BENCH_KAFKA_PORT (19092) and deletes it afterwards.
# VOC_BENCH_BROKER=shared uses the stack's broker instead.

# bench_broker_start DIR: start the private broker in DIR (or nothing when
# shared) and point VOC_KAFKA__BROKERS at it.
bench_broker_start() {
    BENCH_BROKER_DIR=""
    case "${VOC_BENCH_BROKER:-private}" in
        private)
            BENCH_BROKER_DIR="$1"
            BENCH_KAFKA_PORT="${VOC_BENCH_KAFKA_PORT:-19092}"
            VOC_DATA_DIR="$BENCH_BROKER_DIR" VOC_KAFKA_PORT="$BENCH_KAFKA_PORT" \
                "$VOC_ROOT/deploy/stack.sh" start-broker
            export VOC_KAFKA__BROKERS="127.0.0.1:$BENCH_KAFKA_PORT" ;;
        shared) ;;
        *) die "VOC_BENCH_BROKER must be private or shared" ;;
    esac
}

# bench_broker_stop: stop and delete the private broker, if any.
bench_broker_stop() {
    if [ -n "${BENCH_BROKER_DIR:-}" ] && [ -d "$BENCH_BROKER_DIR" ]; then
        VOC_DATA_DIR="$BENCH_BROKER_DIR" VOC_KAFKA_PORT="$BENCH_KAFKA_PORT" \
            "$VOC_ROOT/deploy/stack.sh" stop-broker || true
        rm -rf "$BENCH_BROKER_DIR"
    fi
}

# bench_broker_pid: the pid of the broker the benchmark uses.
bench_broker_pid() {
    if [ -n "${BENCH_BROKER_DIR:-}" ]; then cat "$BENCH_BROKER_DIR/tansu/tansu.pid"
    else cat "$VOC_DATA_DIR/tansu/tansu.pid"; fi
}

# bench_drop_database NAME: drop a ClickHouse database of a benchmark, if it exists.
bench_drop_database() {
    "$VOC_VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], data=("DROP DATABASE IF EXISTS " + sys.argv[2]).encode()).read()' "$VOC_CLICKHOUSE__URL" "$1"
}
# cpu_seconds PID: CPU seconds used so far by the process group of PID.
cpu_seconds() { ps -o times= -g "$1" | awk '{s += $1} END {print s + 0}'; }

# The topic sections of a bench config whose topics are named after PREFIX
# ([kafka.topics] and the start of [topics]; append more [topics] keys after).
bench_topics_toml() {
    cat <<CFG
[kafka.topics]
app = "$1.voc.raw.app"
call_center = "$1.voc.raw.call_center"
community = "$1.voc.raw.community"
branch = "$1.voc.raw.branch"
[topics]
dead_letter = "$1.voc.deadletter"
alerts = "$1.voc.alerts"
workorder_updates = "$1.voc.workorder.updates"
CFG
}
