#!/usr/bin/env bash
# Installs the server programs the fault tests (tests/faults_*.rs) start for themselves: redis-server and
# redis-cli, memcached, and PostgreSQL's initdb and pg_ctl (Debian keeps those in /usr/lib/postgresql/<major>/bin,
# where the tests look for them). Nothing is started here: each test runs its own server on a spare loopback
# port and stops it.
#
#   bash .ci/install-fault-servers.sh
#
# Installs Debian's packages (apt-get update first, once) only for what is missing; idempotent. Progress and
# errors go to stderr; the exit status is non-zero when a package cannot be installed.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

missing=()
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    missing+=(redis-server)
fi
if ! command -v memcached >/dev/null 2>&1; then
    missing+=(memcached)
fi
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(postgresql)
fi

if [ ${#missing[@]} -eq 0 ]; then
    log "redis-server, memcached and PostgreSQL are installed"
    exit 0
fi

log "installing ${missing[*]}"
apt_install "${missing[@]}"
