#!/usr/bin/env bash
# The local voc stack: a tansu broker (durable sqlite storage) and a private
# ClickHouse server, both on 127.0.0.1 with data under $VOC_DATA_DIR (.voc/).
#   deploy/stack.sh start    start what is not running (idempotent)
#   deploy/stack.sh stop     stop both
#   deploy/stack.sh status   show what runs where
#   deploy/stack.sh reset    stop and delete all local data
#   deploy/stack.sh start-broker | stop-broker   only tansu (benchmarks run a
#                            throwaway one with their own VOC_DATA_DIR and port)
#   deploy/stack.sh start-clickhouse | stop-clickhouse   only ClickHouse (the
#                            chaos tests stop and start their own)
# Ports: VOC_KAFKA_PORT (9092), VOC_CLICKHOUSE_HTTP_PORT (8123), VOC_CLICKHOUSE_TCP_PORT (9000).
set -euo pipefail
source "$(dirname "$0")/local/env.sh"
source "$(dirname "$0")/local/proc.sh"

T="$VOC_DATA_DIR/tansu"
C="$VOC_DATA_DIR/clickhouse"


ch_ping() { [ "$(curl -s "http://127.0.0.1:$VOC_CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ]; }

start_tansu() {
    if alive "$T/tansu.pid"; then log "tansu already running (pid $(cat "$T/tansu.pid")) on :$VOC_KAFKA_PORT"; return; fi
    port_open "$VOC_KAFKA_PORT" && die "port $VOC_KAFKA_PORT is taken by another process (set VOC_KAFKA_PORT)"
    command -v tansu >/dev/null || die "tansu not installed: run deploy/install.sh"
    mkdir -p "$T"
    # tansu resolves the sqlite path relative to its working directory.
    (cd "$T" && {
        setsid nohup tansu broker \
            --listener-url "tcp://127.0.0.1:$VOC_KAFKA_PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$VOC_KAFKA_PORT" \
            --storage-engine "sqlite://tansu.db" >>tansu.log 2>&1 &
        echo $! >tansu.pid
    })
    wait_for tansu 30 port_open "$VOC_KAFKA_PORT"
    log "tansu started (pid $(cat "$T/tansu.pid")) on 127.0.0.1:$VOC_KAFKA_PORT, data $T"
}

start_clickhouse() {
    if alive "$C/clickhouse.pid"; then log "clickhouse already running (pid $(cat "$C/clickhouse.pid")) on :$VOC_CLICKHOUSE_HTTP_PORT"; return; fi
    port_open "$VOC_CLICKHOUSE_HTTP_PORT" && die "port $VOC_CLICKHOUSE_HTTP_PORT is taken by another process (set VOC_CLICKHOUSE_HTTP_PORT)"
    command -v clickhouse-server >/dev/null || die "clickhouse-server not installed: run deploy/install.sh"
    mkdir -p "$C/log" "$C/data" "$C/tmp" "$C/user_files" "$C/format_schemas"
    sed -e "s#@DATA@#$VOC_DATA_DIR#g" -e "s#@HTTP_PORT@#$VOC_CLICKHOUSE_HTTP_PORT#g" -e "s#@TCP_PORT@#$VOC_CLICKHOUSE_TCP_PORT#g" \
        "$VOC_ROOT/deploy/local/clickhouse-config.xml.in" >"$C/config.xml"
    cp "$VOC_ROOT/deploy/local/clickhouse-users.xml" "$C/users.xml"
    (cd "$C" && {
        setsid nohup clickhouse-server --config-file="$C/config.xml" >>"$C/log/stdout.log" 2>&1 &
        echo $! >"$C/clickhouse.pid"
    })
    wait_for clickhouse 60 ch_ping
    log "clickhouse started (pid $(cat "$C/clickhouse.pid")) on 127.0.0.1:$VOC_CLICKHOUSE_HTTP_PORT, data $C"
}


case "${1:-}" in
    start) start_tansu; start_clickhouse ;;
    stop) stop_pid tansu "$T/tansu.pid"; stop_pid clickhouse "$C/clickhouse.pid" ;;
    status)
        alive "$T/tansu.pid" && echo "tansu      running pid $(cat "$T/tansu.pid") 127.0.0.1:$VOC_KAFKA_PORT" || echo "tansu      stopped"
        alive "$C/clickhouse.pid" && echo "clickhouse running pid $(cat "$C/clickhouse.pid") 127.0.0.1:$VOC_CLICKHOUSE_HTTP_PORT" || echo "clickhouse stopped"
        ;;
    start-broker) start_tansu ;;
    stop-broker) stop_pid tansu "$T/tansu.pid" ;;
    start-clickhouse) start_clickhouse ;;
    stop-clickhouse) stop_pid clickhouse "$C/clickhouse.pid" ;;
    reset) "$0" stop; rm -rf "$VOC_DATA_DIR"; log "deleted $VOC_DATA_DIR" ;;
    *) echo "usage: $0 start|stop|status|reset|start-broker|stop-broker|start-clickhouse|stop-clickhouse" >&2; exit 2 ;;
esac
