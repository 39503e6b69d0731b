# The test servers' addresses, as the tests read them. Sourced by .ci/run; source it yourself to run the
# server tests locally after `bash .ci/start-services.sh`.
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_MYSQL_URL="${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
export TEST_MEMCACHED_URL="${TEST_MEMCACHED_URL:-memcached://127.0.0.1:11211,127.0.0.1:11212}"
export TEST_REDIS_CLUSTER_URLS="${TEST_REDIS_CLUSTER_URLS:-redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003}"
# The Python with Django 5.2 the Django interoperability tests run (made by .ci/install-django.sh).
django_venv="${DJANGO_VENV:-$HOME/.cache/tower-django/venv-django}"
if [ -z "${TEST_DJANGO_PYTHON:-}" ] && [ -x "$django_venv/bin/python" ]; then
    export TEST_DJANGO_PYTHON="$django_venv/bin/python"
fi
unset django_venv
