#!/usr/bin/env bash
# Feature matrix: proves every feature builds alone and that the umbrella crate's features give what they
# promise.
#
#   1. `.ci/umbrella-check` (a crate outside the workspace that depends only on `tower-django`, default
#      features off) is checked under a list of feature sets; its `src/lib.rs` names the items each gives.
#   2. Every workspace crate is checked with `--no-default-features`, with its defaults, and with each of its
#      features alone (read from `cargo metadata`).
#
# Everything shares one target dir (`target/feature-matrix`, or `$CARGO_TARGET_DIR`), so a run after the
# first only re-checks what changed. Warnings are errors (`-D warnings`, or `$FEATURE_MATRIX_RUSTFLAGS`):
# an unused import under one feature set is a bug of that feature set. The first failure stops the run.
#
#   bash .ci/feature-matrix.sh            # all of it
#   bash .ci/feature-matrix.sh umbrella   # part 1 only
#   bash .ci/feature-matrix.sh crates     # part 2 only
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
part=${1:-all}

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/feature-matrix}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUSTFLAGS="${FEATURE_MATRIX_RUSTFLAGS--D warnings}"

command -v jq >/dev/null || { echo "feature-matrix: jq is required (apt-get install jq)" >&2; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$(date +%s%N)
checks=0

seconds_since() { # nanosecond timestamp → seconds elapsed, one decimal
    local ns=$(($(date +%s%N) - $1))
    printf '%d.%d' $((ns / 1000000000)) $((ns / 100000000 % 10))
}

# check LABEL CARGO-CHECK-ARGS...: runs `cargo check`, prints the label and its time, stops on failure.
check() {
    local label=$1
    shift
    local t0
    t0=$(date +%s%N)
    if ! cargo check --quiet "$@" >"$log" 2>&1; then
        cat "$log"
        printf '\nfeature-matrix: FAILED after %ss: %s\n  command: cargo check %s\n' \
            "$(seconds_since "$started")" "$label" "$*" >&2
        exit 1
    fi
    checks=$((checks + 1))
    printf '  ok %6ss  %s\n' "$(seconds_since "$t0")" "$label"
}

if [[ $part == all || $part == umbrella ]]; then
    echo "==> umbrella: .ci/umbrella-check under each feature set"
    manifest=.ci/umbrella-check/Cargo.toml
    # Resolve the same dependency versions as the workspace (the crate has its own lock file, not committed).
    cp Cargo.lock .ci/umbrella-check/Cargo.lock
    sets=(
        ""
        "umbrella-default"
        "cache"
        "memory"
        "file"
        "sqlite"
        "postgres"
        "mysql"
        "redis"
        "redis-cluster"
        "redis-tls"
        "memcached"
        "hooks"
        "hooks-minijinja"
        "page"
        "page memory"
        "page redis"
        "page memcached"
        "page file"
        "sessions"
        "sessions memory"
        "sessions redis"
        "sessions redis-cluster"
        "sessions memcached"
        "sessions file"
        "sessions sqlite"
        "sessions postgres"
        "sessions mysql"
        "signed-cookie"
        "django"
        "django sqlite"
        "django signed-cookie redis"
        "sessions testing"
        "cache testing"
        "umbrella-default page sessions hooks"
    )
    for set in "${sets[@]}"; do
        check "umbrella-check [${set:-no features}]" --manifest-path "$manifest" \
            --no-default-features --features "${set// /,}"
    done
    check "umbrella-check [every feature]" --manifest-path "$manifest" --all-features
fi

# Features that are shared machinery, only meant to be enabled through others, and that do not build alone
# (`crate:feature`, with why). Each is still checked through the features that enable it.
internal_features=(
)

if [[ $part == all || $part == crates ]]; then
    echo "==> crates: each workspace crate with no features, its defaults, and each feature alone"
    # One line per crate: its name, then its features other than `default`. The benchmarks package
    # (`comparisons`, unpublished) has no features, and clippy already checks it with every target.
    while read -r crate features; do
        check "$crate [no features]" -p "$crate" --no-default-features
        check "$crate [default]" -p "$crate"
        for feature in $features; do
            if [[ " ${internal_features[*]} " == *" $crate:$feature "* ]]; then
                printf '  skip          %s [%s]: internal, checked through the features enabling it\n' \
                    "$crate" "$feature"
                continue
            fi
            check "$crate [$feature]" -p "$crate" --no-default-features --features "$feature"
        done
    done < <(cargo metadata --format-version 1 --no-deps |
        jq -r '.packages[] | select(.name != "comparisons") |
            "\(.name) \([.features | keys[] | select(. != "default")] | join(" "))"')
fi

printf '\nfeature-matrix: %d checks passed in %ss (target dir %s)\n' \
    "$checks" "$(seconds_since "$started")" "$CARGO_TARGET_DIR"
