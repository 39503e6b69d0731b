# Shell functions the .ci scripts share; sourced, not run:
#
#   # shellcheck source=.ci/lib.sh
#   source "$(dirname "$0")/lib.sh"
#
# `log` prefixes its message with the sourcing script's name; the rest is documented at each function.

# log MESSAGE...: the message on stderr, after the script's name (`start-memcached: …`).
log() { echo "$(basename "$0" .sh): $*" >&2; }

# apt_install [APT-GET-OPTION...] PACKAGE...: installs Debian's packages (apt-get update first), quietly,
# its progress and errors on stderr; fails when a package cannot be installed.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "$@" >&2
}

# retry TRIES PAUSE COMMAND...: runs COMMAND until it succeeds, at most TRIES times, PAUSE seconds apart;
# succeeds when COMMAND did.
retry() {
    local tries=$1 pause=$2 try
    shift 2
    for ((try = 1; ; try++)); do
        "$@" && return 0
        ((try < tries)) || return 1
        sleep "$pause"
    done
}
