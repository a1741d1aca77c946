# Process helpers shared by deploy/stack.sh and deploy/local/secure.sh; source
# it after deploy/local/env.sh (which defines log and die).

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # name seconds command...
    local name=$1 secs=$2; shift 2
    for _ in $(seq 1 $((secs * 10))); do "$@" && return 0; sleep 0.1; done
    die "$name did not become ready within ${secs}s"
}

# Servers run in their own session (setsid), so the whole process group is
# signalled: clickhouse-server forks a watchdog parent around the real server.
stop_pid() { # name pidfile
    if alive "$2"; then
        local pid; pid="$(cat "$2")"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do pgrep -g "$pid" >/dev/null 2>&1 || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        log "$1 stopped"
    fi
    rm -f "$2"
}
