#!/usr/bin/env bash
# Installs the Django the interop tests run beside the Rust side: Django 5.2 LTS (the newest release Python
# 3.11 installs) in a virtual environment of its own, with the drivers its cache and database backends use
# here (redis-py; pymemcache for PyMemcacheCache; psycopg 3 for PostgreSQL; PyMySQL standing in for
# mysqlclient, which needs a C toolchain and client headers). Versions are pinned below.
#
#   bash .ci/install-django.sh            # creates target/django-venv unless it is already complete
#   TEST_DJANGO_VENV=/path bash .ci/install-django.sh
#
# Prints nothing on stdout; `source .ci/test-env.sh` afterwards exports TEST_DJANGO_PYTHON (the venv's
# python), which the interop tests read. Idempotent: a venv whose Django already imports is kept.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

venv="${TEST_DJANGO_VENV:-$PWD/target/django-venv}"
python="$venv/bin/python"
requirements=(
    "Django==5.2.*"
    "redis==5.2.*"
    "pymemcache==4.0.*"
    "psycopg[binary]==3.2.*"
    "PyMySQL==1.1.*"
)

if [ -x "$python" ] && "$python" -c 'import django, redis, pymemcache, psycopg, pymysql; assert django.VERSION[:2] == (5, 2)' 2>/dev/null; then
    log "Django $("$python" -c 'import django; print(django.get_version())') is installed in $venv"
    exit 0
fi
command -v python3 >/dev/null || { log "python3 is missing"; exit 1; }
if ! python3 -c 'import ensurepip' 2>/dev/null; then
    log "installing python3-venv"
    apt_install --no-install-recommends python3-venv
fi
log "creating $venv"
python3 -m venv "$venv" >&2
retry 3 5 "$python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
log "installed Django $("$python" -c 'import django; print(django.get_version())') in $venv"
