#!/bin/sh
# Starts and stops the redis-server that the Redis integration tests talk to: the setup and
# cleanup of the CTest fixture redis_server (tests/redis/CMakeLists.txt).
#
#   redis_fixture.sh start <dir> [<redis-server> [<redis-cli>]]
#       starts a server on 127.0.0.1 with its pid file, log and working directory in <dir>, waits
#       until it answers PING, and writes its port to <dir>/port;
#   redis_fixture.sh stop <dir> [<redis-server> [<redis-cli>]]
#       stops that server; succeeds when it has already gone.
#
# Several build trees may run their tests at once (the matrix's nested builds run beside the main
# one), each with its own server. The first port tried is derived from <dir>, so two trees rarely
# start at the same one; a port that is taken makes redis-server give up, and the next is tried.
# Only a server whose own log says it is ready counts: another tree's server on the same port is
# never mistaken for ours.
set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 start|stop <dir> [<redis-server> [<redis-cli>]]" >&2
    exit 2
fi
action=$1
dir=$2
server=${3:-redis-server}
cli=${4:-redis-cli}
pidfile=$dir/redis.pid
log=$dir/redis.log
portfile=$dir/port

ports_to_try=50
sum=$(printf '%s' "$dir" | cksum | cut -d ' ' -f 1)
# Below the usual ephemeral range (32768 and up), where outgoing connections take their ports.
first_port=$((20000 + sum % 10000))

# Waits are counted in tenths of a second; a sleep without fractions waits whole seconds.
if sleep 0.1 2>/dev/null; then
    nap=0.1
    step=1
else
    nap=1
    step=10
fi

say() {
    echo "redis_fixture: $*"
}

# True when <pid> is a running redis-server: not a zombie that waits to be reaped, nor a process
# that reused the number.
is_redis() {
    kill -0 "$1" 2>/dev/null || return 1
    command -v ps >/dev/null 2>&1 || return 0
    if state=$(ps -p "$1" -o stat= 2>/dev/null); then
        case $state in
        *Z*) return 1 ;;
        esac
    fi
    command=$(ps -p "$1" -o comm= 2>/dev/null) || return 0
    case $command in
    *redis*) return 0 ;;
    *) return 1 ;;
    esac
}

show_log() {
    if [ -s "$log" ]; then
        echo "the end of $log:"
        tail -n 20 "$log"
    else
        echo "$log is empty or missing"
    fi
}

stop_server() {
    pid=$(cat "$pidfile" 2>/dev/null || true)
    port=$(cat "$portfile" 2>/dev/null || true)
    rm -f "$portfile"
    if [ -z "$pid" ] || ! is_redis "$pid"; then
        rm -f "$pidfile"
        say "no server running in $dir"
        return 0
    fi
    # Ask for a clean shutdown only if the port still leads to the server of this pid file.
    if [ -n "$port" ] &&
        [ "$("$cli" -h 127.0.0.1 -p "$port" config get pidfile 2>/dev/null | tail -n 1)" = "$pidfile" ]; then
        "$cli" -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1
    fi
    for signal in none TERM KILL; do
        if [ "$signal" != none ]; then
            kill -s "$signal" "$pid" 2>/dev/null
        fi
        waited=0
        while [ $waited -lt 100 ]; do
            if ! is_redis "$pid"; then
                rm -f "$pidfile"
                say "stopped redis-server $pid"
                return 0
            fi
            sleep $nap
            waited=$((waited + step))
        done
    done
    say "redis-server $pid in $dir does not stop, even on SIGKILL"
    return 1
}

# Starts a server on port $1. Returns 0 when it answers PING, 1 when the port is taken; exits
# with a message on any other failure.
try_port() {
    rm -f "$pidfile" "$log"
    if ! "$server" --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$pidfile" --logfile "$log" --dir "$dir"; then
        say "$server refused to start"
        show_log
        exit 1
    fi
    waited=0
    while [ $waited -lt 200 ]; do
        if grep -q -e 'Address already in use' -e 'Failed listening' "$log" 2>/dev/null; then
            return 1
        fi
        if grep -q 'Ready to accept connections' "$log" 2>/dev/null &&
            [ "$("$cli" -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        # The server logs its pid as it starts: if that process is gone, waiting is useless.
        pid=$(sed -n 's/.*[ ,]pid=\([0-9][0-9]*\).*/\1/p' "$log" 2>/dev/null | head -n 1)
        if [ -n "$pid" ] && ! is_redis "$pid" &&
            ! grep -q -e 'Address already in use' -e 'Failed listening' "$log" 2>/dev/null; then
            say "redis-server exited before it was ready on 127.0.0.1:$1"
            show_log
            exit 1
        fi
        sleep $nap
        waited=$((waited + step))
    done
    say "redis-server did not answer PING on 127.0.0.1:$1 within 20 s"
    show_log
    stop_server >/dev/null
    exit 1
}

case $action in
start)
    if ! mkdir -p "$dir"; then
        say "cannot create $dir"
        exit 1
    fi
    # A server left behind by an interrupted run of this tree.
    stop_server >/dev/null || exit 1
    tried=0
    while [ $tried -lt $ports_to_try ]; do
        port=$((first_port + tried))
        if try_port "$port"; then
            printf '%s\n' "$port" >"$portfile.tmp" && mv "$portfile.tmp" "$portfile" || exit 1
            say "redis-server $(cat "$pidfile" 2>/dev/null) listening on 127.0.0.1:$port (log: $log)"
            exit 0
        fi
        say "port $port is taken, trying the next"
        tried=$((tried + 1))
    done
    say "no free port from $first_port to $((first_port + ports_to_try - 1)) on 127.0.0.1"
    exit 1
    ;;
stop)
    stop_server
    ;;
*)
    echo "usage: $0 start|stop <dir> [<redis-server> [<redis-cli>]]" >&2
    exit 2
    ;;
esac
