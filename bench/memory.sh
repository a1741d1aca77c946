#!/usr/bin/env bash
# Worker memory in the cases that used to grow with the backlog; prints the
# peak RSS (VmHWM of /proc/PID/status) of each worker per case:
#   down_at_start  ClickHouse unreachable at start, N messages waiting (60 s)
#   assigned_mid   a second worker joins during that outage: the partitions
#                  handed out are paused on arrival (60 s more, both workers)
#   slow_inserts   ClickHouse answers every request 3 s late (a proxy), N waiting
#   drain_alerting ClickHouse up: drain the N messages with alerting on
# Env: VOC_MEM_COUNT (200000), VOC_BIN (target/release/voc, built if missing).
# Uses the stack's broker and ClickHouse (deploy/stack.sh start first).
set -euo pipefail
source "$(dirname "$0")/../deploy/local/env.sh"
source "$(dirname "$0")/lib.sh"
cd "$VOC_ROOT"
N="${VOC_MEM_COUNT:-200000}"
VOC="${VOC_BIN:-$VOC_ROOT/target/release/voc}"
[ -x "$VOC" ] || cargo build --release --quiet
OUT="$VOC_DATA_DIR/bench/memory"; mkdir -p "$OUT"
P="mem$(date +%s)"
PIDS=""
cleanup() { for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

config() { # file clickhouse-url alerting group
    cat >"$1" <<CFG
[kafka]
brokers = "$VOC_KAFKA__BROKERS"
group_id = "$P-$4"
session_timeout_ms = 10000
$(bench_topics_toml "$P")
alerts_enabled = $3
[clickhouse]
url = "$2"
database = "voc_$P"
timeout_ms = 10000
[metrics]
listen = ""
CFG
}
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }
start() { # config log -> pid
    # The config file is the whole truth (env.sh exports the stack's URLs).
    env -u VOC_CLICKHOUSE__URL -u VOC_KAFKA__BROKERS VOC_DEMO=1 RUST_LOG=info \
        "$VOC" run --config "$1" >"$2" 2>&1 &
    PIDS="$PIDS $!"; echo $!
}
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }
stored() { curl -s "$VOC_CLICKHOUSE__URL" --data-binary "SELECT count() FROM voc_$P.feedback"; }

# A group per case: each starts from the beginning of the backlog (and a
# tansu group whose members all left can stay without a leader).
config "$OUT/good.toml" "$VOC_CLICKHOUSE__URL" true drain
config "$OUT/down.toml" "http://127.0.0.1:9" true down
"$VOC" topics create --local --partitions 6 --config "$OUT/good.toml" >/dev/null 2>&1
"$VOC" schema apply --config "$OUT/good.toml" >/dev/null 2>&1
VOC_DEMO=1 "$VOC" gen --config "$OUT/good.toml" --count "$N" --run-id "$P" >/dev/null 2>&1
echo "produced $N messages to $P.*"

a=$(start "$OUT/down.toml" "$OUT/down-a.log"); sleep 60
echo "down_at_start: worker $(hwm "$a") MB"
b=$(start "$OUT/down.toml" "$OUT/down-b.log"); sleep 60
echo "assigned_mid: workers $(hwm "$a") MB, $(hwm "$b") MB"
stop "$a"; stop "$b"

# A proxy that holds every request to ClickHouse 3 s.
"$VOC_VENV/bin/python" - "$VOC_CLICKHOUSE_HTTP_PORT" >"$OUT/proxy.port" 2>"$OUT/proxy.log" <<'PY' &
import socket, sys, threading, time
up = int(sys.argv[1])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(64)
print(srv.getsockname()[1], flush=True)
def pipe(a, b, delay):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            if delay: time.sleep(delay); delay = 0
            b.sendall(d)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
def serve(c):
    u = socket.create_connection(("127.0.0.1", up))
    threading.Thread(target=pipe, args=(c, u, 3.0), daemon=True).start()
    pipe(u, c, 0)
while True:
    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
PIDS="$PIDS $!"; sleep 1
config "$OUT/slow.toml" "http://127.0.0.1:$(cat "$OUT/proxy.port")" true slow
s=$(start "$OUT/slow.toml" "$OUT/slow.log"); sleep 90
echo "slow_inserts: worker $(hwm "$s") MB ($(stored) of $N stored after 90 s)"
stop "$s"

d=$(start "$OUT/good.toml" "$OUT/drain.log")
t0=$(date +%s)
while [ "$(stored)" -lt "$((N * 9 / 10))" ] && [ $(( $(date +%s) - t0 )) -lt 900 ]; do sleep 5; done
sleep 10
echo "drain_alerting: worker $(hwm "$d") MB ($(stored) stored in $(( $(date +%s) - t0 )) s)"
stop "$d"
