#!/usr/bin/env bash
# Installs what tests/browser.rs drives: Debian's Chromium and its WebDriver server (packages chromium and
# chromium-driver: /usr/bin/chromium, /usr/bin/chromedriver). Nothing is started here: the test starts
# chromedriver on a spare loopback port and stops it.
#
#   bash .ci/install-browser.sh
#
# Installs only what is missing (apt-get update first, once); idempotent. Progress and errors go to stderr;
# the exit status is non-zero when a package cannot be installed.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

missing=()
if ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
fi
if ! command -v chromedriver >/dev/null 2>&1; then
    missing+=(chromium-driver)
fi

if [ ${#missing[@]} -eq 0 ]; then
    log "chromium and chromedriver are installed ($(chromium --version 2>/dev/null || echo '?'))"
    exit 0
fi

log "installing ${missing[*]}"
apt_install --no-install-recommends "${missing[@]}"
log "installed: $(chromium --version 2>/dev/null || echo '?'), $(chromedriver --version 2>/dev/null || echo '?')"
