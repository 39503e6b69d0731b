#!/usr/bin/env bash
# Installs what the Django interoperability tests run (crates/tower-sessions-kit/tests/django_live.rs):
# a Python virtualenv with Django 5.2 LTS. The tests find its Python through TEST_DJANGO_PYTHON, which
# .ci/test-env.sh exports when the virtualenv exists.
#
#   bash .ci/install-django.sh            # the virtualenv in $DJANGO_VENV (default ~/.cache/tower-django/venv-django)
#
# Idempotent: an existing virtualenv with Django 5.2 is kept. Progress and errors go to stderr.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

venv="${DJANGO_VENV:-$HOME/.cache/tower-django/venv-django}"

if "$venv/bin/python" -c 'import django, sys; sys.exit(django.VERSION[:2] != (5, 2))' 2>/dev/null; then
    log "Django $("$venv/bin/python" -m django --version) is installed in $venv"
    exit 0
fi

if ! python3 -c 'import ensurepip' 2>/dev/null; then
    log "installing python3-venv"
    apt_install --no-install-recommends python3-venv
fi
log "creating $venv with Django 5.2"
python3 -m venv "$venv"
retry 3 5 "$venv/bin/pip" install --quiet 'Django>=5.2,<5.3' >&2
log "installed Django $("$venv/bin/python" -m django --version)"
