#!/usr/bin/env bash
# A secured local stack, for the TLS and credential tests and for trying the
# [kafka.tls], [kafka.sasl] and https [clickhouse] settings by hand:
#   - a private CA and a server certificate for 127.0.0.1/localhost, plus a
#     second, unrelated CA (what a wrong ca_file looks like);
#   - a tansu broker with SASL/SCRAM authentication (user voc, SCRAM-SHA-512),
#     reached only through TLS: tansu 0.6.0 accepts --cert/--key but serves
#     plain TCP regardless, so stunnel terminates TLS in front of it and the
#     broker advertises the TLS port;
#   - a ClickHouse server with only an https port and password-protected users.
#
#   deploy/local/secure.sh start DIR   start everything under DIR (idempotent)
#   deploy/local/secure.sh stop DIR    stop it (DIR is kept)
#   deploy/local/secure.sh env DIR     print the settings as VOC_ variables
#
# Ports: VOC_SECURE_KAFKA_PORT (19093, TLS), VOC_SECURE_KAFKA_PLAIN_PORT (19094,
# loopback behind stunnel), VOC_SECURE_KAFKA_SETUP_PORT (19095, once, to create
# the SCRAM user), VOC_SECURE_CLICKHOUSE_HTTPS_PORT (18443),
# VOC_SECURE_CLICKHOUSE_TCP_PORT (19000, native protocol, TLS too).
# Passwords are generated per DIR and kept in DIR/secrets/ (mode 600).
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/proc.sh"

cmd="${1:-}"; D="${2:-}"
[ -n "$cmd" ] && [ -n "$D" ] || die "usage: deploy/local/secure.sh start|stop|env DIR"
mkdir -p "$D"; D="$(cd "$D" && pwd)"
KPORT="${VOC_SECURE_KAFKA_PORT:-19093}"
KPLAIN="${VOC_SECURE_KAFKA_PLAIN_PORT:-19094}"
KSETUP="${VOC_SECURE_KAFKA_SETUP_PORT:-19095}"
HTTPS="${VOC_SECURE_CLICKHOUSE_HTTPS_PORT:-18443}"
CHTCP="${VOC_SECURE_CLICKHOUSE_TCP_PORT:-19000}"


certs() {
    local c="$D/certs"
    [ -f "$c/server.pem" ] && return
    mkdir -p "$c"
    ( cd "$c"
      openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=voc test CA" \
          -keyout ca.key -out ca.pem 2>/dev/null
      openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=unrelated CA" \
          -keyout wrong-ca.key -out wrong-ca.pem 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
          -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
          -extfile server.ext -out server.pem 2>/dev/null
      cat server.pem server.key >server-bundle.pem
      chmod 600 ./*.key server-bundle.pem )
}

secrets() {
    local s="$D/secrets"
    [ -f "$s/kafka" ] && return
    mkdir -p "$s"; chmod 700 "$s"
    head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$s/kafka"
    head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$s/clickhouse"
    chmod 600 "$s"/*
}

start_broker() {
    local t="$D/tansu"
    alive "$t/tansu.pid" && return
    command -v tansu >/dev/null || die "tansu not installed: run deploy/install.sh"
    command -v stunnel4 >/dev/null || die "stunnel4 not installed: run deploy/install.sh"
    port_open "$KPLAIN" && die "port $KPLAIN is taken (set VOC_SECURE_KAFKA_PLAIN_PORT)"
    mkdir -p "$t"
    if [ ! -f "$t/users.done" ]; then
        # SCRAM credentials are stored by the broker: create them once with
        # authentication off, on a port of its own (the closed connections
        # linger in TIME_WAIT and would keep the real port from binding).
        (cd "$t" && { setsid nohup tansu broker --listener-url "tcp://127.0.0.1:$KSETUP" \
            --advertised-listener-url "tcp://127.0.0.1:$KSETUP" \
            --storage-engine "sqlite://tansu.db" >>tansu.log 2>&1 & echo $! >tansu.pid; })
        wait_for tansu 30 port_open "$KSETUP"
        tansu user create --broker "tcp://127.0.0.1:$KSETUP" --mechanism scram512 \
            voc "$(cat "$D/secrets/kafka")" >>"$t/tansu.log" 2>&1
        stop_pid "tansu (set-up)" "$t/tansu.pid"
        touch "$t/users.done"
    fi
    (cd "$t" && { setsid nohup tansu broker --authentication \
        --listener-url "tcp://127.0.0.1:$KPLAIN" \
        --advertised-listener-url "tcp://127.0.0.1:$KPORT" \
        --storage-engine "sqlite://tansu.db" >>tansu.log 2>&1 & echo $! >tansu.pid; })
    wait_for tansu 30 port_open "$KPLAIN"
    cat >"$t/stunnel.conf" <<CONF
foreground = yes
pid =
[kafka]
accept = 127.0.0.1:$KPORT
connect = 127.0.0.1:$KPLAIN
cert = $D/certs/server-bundle.pem
CONF
    (cd "$t" && { setsid nohup stunnel4 stunnel.conf >>stunnel.log 2>&1 & echo $! >stunnel.pid; })
    wait_for stunnel 15 port_open "$KPORT"
    log "TLS broker on 127.0.0.1:$KPORT (SASL SCRAM-SHA-512, user voc), data $t"
}

start_clickhouse() {
    local c="$D/clickhouse"
    alive "$c/clickhouse.pid" && return
    port_open "$HTTPS" && die "port $HTTPS is taken (set VOC_SECURE_CLICKHOUSE_HTTPS_PORT)"
    mkdir -p "$c/log" "$c/data" "$c/tmp" "$c/user_files" "$c/format_schemas"
    local sha; sha="$(printf '%s' "$(cat "$D/secrets/clickhouse")" | sha256sum | cut -d' ' -f1)"
    cat >"$c/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$c/log/server.log</log><errorlog>$c/log/server.err.log</errorlog></logger>
    <https_port>$HTTPS</https_port>
    <tcp_port_secure>$CHTCP</tcp_port_secure>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>536870912</uncompressed_cache_size>
    <mark_cache_size>536870912</mark_cache_size>
    <openSSL>
        <server>
            <certificateFile>$D/certs/server.pem</certificateFile>
            <privateKeyFile>$D/certs/server.key</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
    <path>$c/data/</path>
    <tmp_path>$c/tmp/</tmp_path>
    <user_files_path>$c/user_files/</user_files_path>
    <format_schema_path>$c/format_schemas/</format_schema_path>
    <users_config>$c/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
    # Every user needs the password; the default user is the same account.
    sed -e "s#<password></password>#<password_sha256_hex>$sha</password_sha256_hex>#" \
        "$VOC_ROOT/deploy/local/clickhouse-users.xml" >"$c/users.xml"
    (cd "$c" && { setsid nohup clickhouse-server --config-file="$c/config.xml" >>"$c/log/stdout.log" 2>&1 & echo $! >clickhouse.pid; })
    wait_for "clickhouse (https)" 60 port_open "$HTTPS"
    log "HTTPS ClickHouse on 127.0.0.1:$HTTPS (user default, password in $D/secrets/clickhouse), data $c"
}

case "$cmd" in
    start) certs; secrets; start_broker; start_clickhouse ;;
    stop)
        stop_pid stunnel "$D/tansu/stunnel.pid"
        stop_pid tansu "$D/tansu/tansu.pid"
        stop_pid clickhouse "$D/clickhouse/clickhouse.pid" ;;
    env)
        cat <<ENV
VOC_KAFKA__BROKERS=127.0.0.1:$KPORT
VOC_KAFKA__TLS__ENABLED=true
VOC_KAFKA__TLS__CA_FILE=$D/certs/ca.pem
VOC_KAFKA__SASL__MECHANISM=SCRAM-SHA-512
VOC_KAFKA__SASL__USERNAME=voc
VOC_KAFKA__SASL__PASSWORD={file="$D/secrets/kafka"}
VOC_CLICKHOUSE__URL=https://127.0.0.1:$HTTPS
VOC_CLICKHOUSE__CA_FILE=$D/certs/ca.pem
VOC_CLICKHOUSE__PASSWORD={file="$D/secrets/clickhouse"}
ENV
        ;;
    *) die "usage: deploy/local/secure.sh start|stop|env DIR" ;;
esac
