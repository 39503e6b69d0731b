#!/usr/bin/env bash
# Starts memcached on 127.0.0.1 for the cache-core tests, unless it already answers there.
#
#   eval "$(bash .ci/start-memcached.sh)"            # 11211 and 11212 (two servers: consistent hashing)
#   eval "$(bash .ci/start-memcached.sh 11211)"      # one server
#
# Installs Debian's memcached package when the binary is missing (apt-get update first). Idempotent: a port
# that already answers `version` is left alone. Each instance listens on loopback only, without UDP, with
# 64 MiB of memory and memcached's default 1 MiB item limit, as a daemon (pid file and log under
# ${MEMCACHED_DIR:-/tmp/tower-django-memcached}).
#
# stdout carries only the line to export, so the output can be eval'ed:
#   export TEST_MEMCACHED_URL=memcached://127.0.0.1:11211,127.0.0.1:11212
# Progress and errors go to stderr. Exit status is non-zero when a server does not come up.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ports=("$@")
if [ ${#ports[@]} -eq 0 ]; then
    ports=(11211 11212)
fi
dir="${MEMCACHED_DIR:-/tmp/tower-django-memcached}"

# True when something on 127.0.0.1:$1 answers memcached's `version` command.
answers() {
    local port=$1 reply
    reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'version\r\n' >&3 && head -c 8 <&3" 2>/dev/null) || return 1
    [[ "$reply" == VERSION* ]]
}

if ! command -v memcached >/dev/null 2>&1; then
    log "memcached is not installed: installing Debian's package"
    apt_install memcached
fi

# memcached refuses to run as root without -u.
user_args=()
if [ "$(id -u)" -eq 0 ]; then
    if id memcache >/dev/null 2>&1; then
        user_args=(-u memcache)
    else
        user_args=(-u nobody)
    fi
fi

mkdir -p "$dir"
chmod 0777 "$dir" # the daemon writes its pid file as the unprivileged user
urls=()
for port in "${ports[@]}"; do
    if answers "$port"; then
        log "memcached already answers on 127.0.0.1:$port"
    else
        log "starting memcached on 127.0.0.1:$port"
        memcached -d "${user_args[@]}" -l 127.0.0.1 -p "$port" -U 0 -m 64 \
            -P "$dir/memcached-$port.pid" >>"$dir/memcached-$port.log" 2>&1
        if ! retry 51 0.1 answers "$port"; then
            log "memcached did not come up on 127.0.0.1:$port (see $dir/memcached-$port.log)"
            exit 1
        fi
    fi
    urls+=("127.0.0.1:$port")
done

(IFS=,; echo "export TEST_MEMCACHED_URL=memcached://${urls[*]}")
