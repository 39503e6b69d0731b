#!/usr/bin/env bash
# Starts a three-node Redis Cluster on 127.0.0.1 for the cache-core tests, unless one already answers there.
#
#   eval "$(bash .ci/start-redis-cluster.sh)"               # ports 7001 7002 7003
#   eval "$(bash .ci/start-redis-cluster.sh 7101 7102 7103)"
#
# Each node is a `redis-server --cluster-enabled yes` daemon on loopback, without persistence, with its own
# directory under ${REDIS_CLUSTER_DIR:-/tmp/tower-django-redis-cluster}/<port> (nodes.conf, log, pid). The
# slots are assigned with `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, then the script
# waits until every node reports `cluster_state:ok`. Idempotent: when all nodes already answer and the
# cluster is ok, nothing is started. Installs Debian's redis-server when redis-server or redis-cli is
# missing (apt-get update first).
#
# stdout carries only the line to export, so the output can be eval'ed:
#   export TEST_REDIS_CLUSTER_URLS=redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003
# Progress and errors go to stderr. Exit status is non-zero when the cluster does not come up.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ports=("$@")
if [ ${#ports[@]} -eq 0 ]; then
    ports=(7001 7002 7003)
fi
dir="${REDIS_CLUSTER_DIR:-/tmp/tower-django-redis-cluster}"

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    log "redis-server/redis-cli not installed: installing Debian's package"
    apt_install redis-server
fi

answers() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]; }
state_ok() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'; }
all_ok() {
    local port
    for port in "${ports[@]}"; do
        state_ok "$port" || return 1
    done
}
print_urls() {
    local urls=() port
    for port in "${ports[@]}"; do
        urls+=("redis://127.0.0.1:$port")
    done
    (IFS=,; echo "export TEST_REDIS_CLUSTER_URLS=${urls[*]}")
}

if all_ok; then
    log "a Redis Cluster already answers on ports ${ports[*]}"
    print_urls
    exit 0
fi

for port in "${ports[@]}"; do
    if answers "$port"; then
        log "a node already answers on 127.0.0.1:$port"
        continue
    fi
    node_dir="$dir/$port"
    # A node that is not running starts empty: a stale nodes.conf would make it rejoin a cluster that is gone.
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    log "starting cluster node on 127.0.0.1:$port"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$node_dir/nodes.conf" --cluster-node-timeout 5000 \
        --dir "$node_dir" --save '' --appendonly no \
        --daemonize yes --pidfile "$node_dir/redis.pid" --logfile "$node_dir/redis.log"
done

for port in "${ports[@]}"; do
    if ! retry 101 0.1 answers "$port"; then
        log "node 127.0.0.1:$port did not start (see $dir/$port/redis.log)"
        exit 1
    fi
done

# Assign the slots unless the nodes already form a cluster (e.g. one still converging).
known=$(redis-cli -h 127.0.0.1 -p "${ports[0]}" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
if [ "${known:-1}" -lt "${#ports[@]}" ]; then
    nodes=()
    for port in "${ports[@]}"; do
        nodes+=("127.0.0.1:$port")
    done
    log "creating the cluster over ${nodes[*]}"
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >&2
fi

if ! retry 301 0.1 all_ok; then
    log "the cluster did not reach cluster_state:ok"
    for port in "${ports[@]}"; do
        redis-cli -h 127.0.0.1 -p "$port" cluster info 2>&1 | head -3 >&2 || true
    done
    exit 1
fi
log "cluster_state:ok on ports ${ports[*]}"
print_urls
