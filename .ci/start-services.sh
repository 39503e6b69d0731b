#!/usr/bin/env bash
# Makes sure every test server answers: PostgreSQL, MariaDB and Redis (installed on the build machines, started
# here if they are down), memcached and a three-node Redis Cluster (installed and started by their scripts).
# Idempotent: a server that already answers is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=.ci/lib.sh
source .ci/lib.sh

quiet() { "$@" >/dev/null 2>&1; }

wait_for() { # name, tries, command...
    local name=$1 tries=$2; shift 2
    if retry "$tries" 0.5 quiet "$@"; then echo "$name: up"; return 0; fi
    echo "$name: did not come up" >&2
    return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    echo "postgres: starting"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
wait_for postgres 60 pg_isready -h 127.0.0.1 -p 5432
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test"

if ! mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    echo "mariadb: starting"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
wait_for mariadb 60 mysqladmin -h 127.0.0.1 -u root ping
mysql -h 127.0.0.1 -u root -e "CREATE DATABASE IF NOT EXISTS test"

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "redis: starting"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/redis-6379.log
fi
wait_for redis 60 redis-cli -h 127.0.0.1 -p 6379 ping

bash .ci/start-memcached.sh
bash .ci/start-redis-cluster.sh
