#!/usr/bin/env bash
# A local ClickHouse cluster for trying and testing the cluster schema: two
# shards with two replicas each (four clickhouse-server processes on
# 127.0.0.1, own ports and data folders) and one standalone ZooKeeper, data
# under $VOC_DATA_DIR/cluster/.
#   deploy/local/cluster.sh start      start what is not running (idempotent)
#   deploy/local/cluster.sh stop       stop the servers, then ZooKeeper
#   deploy/local/cluster.sh status     show what runs where
#   deploy/local/cluster.sh env        print the settings as VOC_ variables
#   deploy/local/cluster.sh kill N     kill -9 server N (1-4), for failure tests
#   deploy/local/cluster.sh start-server N   start server N alone
#   deploy/local/cluster.sh reset      stop and delete the cluster's data
#
# The cluster is named $VOC_CLUSTER_NAME (voc_cluster). Servers: 1 = shard 1
# replica 1, 2 = shard 1 replica 2, 3 = shard 2 replica 1, 4 = shard 2
# replica 2; server N listens on HTTP VOC_CLUSTER_HTTP_PORT_BASE+N (18300+N),
# native TCP VOC_CLUSTER_TCP_PORT_BASE+N (19300+N) and interserver HTTP
# VOC_CLUSTER_INTERSERVER_PORT_BASE+N (18310+N). ZooKeeper: VOC_ZOOKEEPER_PORT
# (12181). Macros: {shard} = 1|2, {replica} = s<shard>r<replica> (unique across
# the cluster, so dimension tables can share one ZooKeeper path).
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/proc.sh"

NAME="${VOC_CLUSTER_NAME:-voc_cluster}"
HTTP_BASE="${VOC_CLUSTER_HTTP_PORT_BASE:-18300}"
TCP_BASE="${VOC_CLUSTER_TCP_PORT_BASE:-19300}"
INTER_BASE="${VOC_CLUSTER_INTERSERVER_PORT_BASE:-18310}"
ZK_PORT="${VOC_ZOOKEEPER_PORT:-12181}"
D="$VOC_DATA_DIR/cluster"
ZK="$D/zookeeper"
SERVERS=(1 2 3 4)

shard_of() { echo $(( ($1 + 1) / 2 )); }
replica_of() { echo $(( ($1 + 1) % 2 + 1 )); }
dir_of() { echo "$D/s$(shard_of "$1")r$(replica_of "$1")"; }
http_of() { echo $((HTTP_BASE + $1)); }
ch_ping_port() { [ "$(curl -s "http://127.0.0.1:$1/ping" 2>/dev/null)" = "Ok." ]; }

start_zookeeper() {
    if alive "$ZK/zookeeper.pid"; then log "zookeeper already running (pid $(cat "$ZK/zookeeper.pid")) on :$ZK_PORT"; return; fi
    port_open "$ZK_PORT" && die "port $ZK_PORT is taken by another process (set VOC_ZOOKEEPER_PORT)"
    [ -f /usr/share/java/zookeeper.jar ] || die "zookeeper not installed: run deploy/install.sh"
    mkdir -p "$ZK/data" "$ZK/conf"
    cat >"$ZK/conf/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$ZK/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=200
admin.enableServer=false
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
4lw.commands.whitelist=srvr
EOF
    (cd "$ZK" && {
        # Debian's zookeeper.jar names its dependencies in its manifest; logs
        # (warnings and up) go to stderr through slf4j-simple.
        setsid nohup java -Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
            -Dorg.slf4j.simpleLogger.log.org.apache.zookeeper.server.ZooKeeperServer=error \
            -cp "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$ZK/conf/zoo.cfg" >>"$ZK/stdout.log" 2>&1 &
        echo $! >"$ZK/zookeeper.pid"
    })
    wait_for zookeeper 60 zk_ok
    log "zookeeper started (pid $(cat "$ZK/zookeeper.pid")) on 127.0.0.1:$ZK_PORT, data $ZK"
}

# Serving requests (srvr names the mode), not merely listening.
zk_ok() { (exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf srvr >&3 && cat <&3) 2>/dev/null | grep -q '^Mode: standalone'; }

# What every server shares: the cluster, ZooKeeper, the interserver host.
cluster_xml() { # server
    local n=$1 s
    echo '<?xml version="1.0"?>'
    echo '<!-- Written by deploy/local/cluster.sh. -->'
    echo '<yandex>'
    echo "    <interserver_http_port>$((INTER_BASE + n))</interserver_http_port>"
    echo '    <interserver_http_host>127.0.0.1</interserver_http_host>'
    echo "    <macros><shard>$(shard_of "$n")</shard><replica>s$(shard_of "$n")r$(replica_of "$n")</replica></macros>"
    echo "    <zookeeper><node><host>127.0.0.1</host><port>$ZK_PORT</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>"
    echo '    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>'
    # A server killed mid-insert restarts with the part it had not committed
    # to ZooKeeper: it is detached and the replica fetches what it lacks. The
    # default refuses to start when such parts hold over half of a table's
    # rows, which on the small tables of a local cluster is every crash.
    echo '    <merge_tree><replicated_max_ratio_of_wrong_parts>1</replicated_max_ratio_of_wrong_parts></merge_tree>'
    echo "    <remote_servers><$NAME>"
    for s in 1 2; do
        echo '        <shard><internal_replication>true</internal_replication>'
        for r in $(((s - 1) * 2 + 1)) $(((s - 1) * 2 + 2)); do
            echo "            <replica><host>127.0.0.1</host><port>$((TCP_BASE + r))</port></replica>"
        done
        echo '        </shard>'
    done
    echo "    </$NAME></remote_servers>"
    echo '</yandex>'
}

start_server() { # N
    local n=$1 dir http tcp
    dir="$(dir_of "$n")"; http="$(http_of "$n")"; tcp=$((TCP_BASE + n))
    local c="$dir/clickhouse"
    if alive "$c/clickhouse.pid"; then log "clickhouse $n already running (pid $(cat "$c/clickhouse.pid")) on :$http"; return; fi
    port_open "$http" && die "port $http is taken by another process (set VOC_CLUSTER_HTTP_PORT_BASE)"
    port_open "$tcp" && die "port $tcp is taken by another process (set VOC_CLUSTER_TCP_PORT_BASE)"
    command -v clickhouse-server >/dev/null || die "clickhouse-server not installed: run deploy/install.sh"
    mkdir -p "$c/log" "$c/data" "$c/tmp" "$c/user_files" "$c/format_schemas" "$c/config.d"
    sed -e "s#@DATA@#$dir#g" -e "s#@HTTP_PORT@#$http#g" -e "s#@TCP_PORT@#$tcp#g" \
        "$VOC_ROOT/deploy/local/clickhouse-config.xml.in" >"$c/config.xml"
    cluster_xml "$n" >"$c/config.d/cluster.xml"
    cp "$VOC_ROOT/deploy/local/clickhouse-users.xml" "$c/users.xml"
    (cd "$c" && {
        setsid nohup clickhouse-server --config-file="$c/config.xml" >>"$c/log/stdout.log" 2>&1 &
        echo $! >"$c/clickhouse.pid"
    })
    wait_for "clickhouse $n" 60 ch_ping_port "$http"
    log "clickhouse $n (shard $(shard_of "$n") replica $(replica_of "$n")) started (pid $(cat "$c/clickhouse.pid")) on 127.0.0.1:$http, data $c"
}

stop_server() { stop_pid "clickhouse $1" "$(dir_of "$1")/clickhouse/clickhouse.pid"; }

# kill -9 the whole process group (the watchdog and the server), no shutdown.
kill_server() {
    local pidfile; pidfile="$(dir_of "$1")/clickhouse/clickhouse.pid"
    alive "$pidfile" || die "clickhouse $1 is not running"
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || kill -KILL "$(cat "$pidfile")"
    for _ in $(seq 1 100); do pgrep -g "$(cat "$pidfile")" >/dev/null 2>&1 || break; sleep 0.1; done
    rm -f "$pidfile"
    log "clickhouse $1 killed (kill -9)"
}

# The servers must all be up before DDL ON CLUSTER can finish.
wait_cluster() {
    local n
    for n in "${SERVERS[@]}"; do wait_for "clickhouse $n" 60 ch_ping_port "$(http_of "$n")"; done
}

case "${1:-}" in
    start)
        start_zookeeper
        for n in "${SERVERS[@]}"; do start_server "$n"; done
        wait_cluster
        ;;
    stop)
        for n in "${SERVERS[@]}"; do stop_server "$n"; done
        stop_pid zookeeper "$ZK/zookeeper.pid"
        ;;
    status)
        alive "$ZK/zookeeper.pid" && echo "zookeeper     running pid $(cat "$ZK/zookeeper.pid") 127.0.0.1:$ZK_PORT" || echo "zookeeper     stopped"
        for n in "${SERVERS[@]}"; do
            p="$(dir_of "$n")/clickhouse/clickhouse.pid"
            label="clickhouse $n (s$(shard_of "$n")r$(replica_of "$n"))"
            alive "$p" && echo "$label running pid $(cat "$p") 127.0.0.1:$(http_of "$n")" || echo "$label stopped"
        done
        ;;
    env)
        echo "VOC_CLICKHOUSE__URL=http://127.0.0.1:$(http_of 1)"
        echo "VOC_CLICKHOUSE__CLUSTER=$NAME"
        echo "VOC_CLUSTER_URLS=$(for n in "${SERVERS[@]}"; do printf 'http://127.0.0.1:%s ' "$(http_of "$n")"; done | sed 's/ $//')"
        ;;
    kill) [ -n "${2:-}" ] || die "usage: $0 kill N"; kill_server "$2" ;;
    start-server) [ -n "${2:-}" ] || die "usage: $0 start-server N"; start_server "$2" ;;
    reset) "$0" stop; rm -rf "$D"; log "deleted $D" ;;
    *) echo "usage: $0 start|stop|status|env|kill N|start-server N|reset" >&2; exit 2 ;;
esac
