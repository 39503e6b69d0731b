#!/usr/bin/env python3
"""The Django side of tests/django_interop.rs: a small Django project (settings below) whose database
session engine, auth and signed cookies run against the same database as the Rust side.

Configured by the environment: DJANGO_DATABASE (a path for SQLite, or postgres://…, mysql://…),
DJANGO_SECRET_KEY, DJANGO_SECRET_KEY_FALLBACKS (JSON list), and for the `cache` and `cached_db` session
engines DJANGO_CACHE_BACKEND (redis, the default; memcached, file or db), DJANGO_CACHE (its LOCATION: a
redis:// URL, host:port,host:port, a directory or a table) and DJANGO_CACHE_PREFIX (its KEY_PREFIX). Reads a JSON array of requests on stdin and
writes a JSON array of answers on stdout:

    {"op": "migrate"}                                   -> {}
    {"op": "create_session", "data": {...}}             -> {"key": ...}
    {"op": "read_session", "key": ...}                  -> {"data": {...} or null}
        (both with an optional "engine": "db" (default), "cache" or "cached_db")
    {"op": "create_user", "username": ..., "password": ...} -> {"id": "..."}
    {"op": "login", "username": ..., "password": ...}   -> {"key": ...}    (auth.login on a new session)
    {"op": "set_password", "username": ..., "password": ...} -> {}
    {"op": "session_user", "key": ...}                  -> {"id": "..." or null}  (auth.get_user)
"""

import json
import os
import sys

import django

from databases import database
from django.conf import settings


CACHE_BACKENDS = {
    "redis": "django.core.cache.backends.redis.RedisCache",
    "memcached": "django.core.cache.backends.memcached.PyMemcacheCache",
    "file": "django.core.cache.backends.filebased.FileBasedCache",
    "db": "django.core.cache.backends.db.DatabaseCache",
}


def cache_location():
    location = os.environ.get("DJANGO_CACHE", "")
    if os.environ.get("DJANGO_CACHE_BACKEND") == "memcached":
        return location.split(",")
    return location


settings.configure(
    SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],
    SECRET_KEY_FALLBACKS=json.loads(os.environ.get("DJANGO_SECRET_KEY_FALLBACKS", "[]")),
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"],
    DATABASES={"default": database(os.environ["DJANGO_DATABASE"])},
    SESSION_ENGINE="django.contrib.sessions.backends.db",
    CACHES={
        "default": {
            "BACKEND": CACHE_BACKENDS[os.environ.get("DJANGO_CACHE_BACKEND", "redis")],
            "LOCATION": cache_location(),
            "KEY_PREFIX": os.environ.get("DJANGO_CACHE_PREFIX", ""),
        }
    }
    if os.environ.get("DJANGO_CACHE")
    else {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    USE_TZ=True,
    # Fast hashing: the tests only need real hashes, not slow ones.
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
)
django.setup()

from django.contrib import auth  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends import cache, cached_db, db  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402

ENGINES = {"db": db.SessionStore, "cache": cache.SessionStore, "cached_db": cached_db.SessionStore}
from django.core.management import call_command  # noqa: E402
from django.test import RequestFactory  # noqa: E402


def request_with(session):
    request = RequestFactory().get("/")
    request.session = session
    return request


def run(request):
    op = request["op"]
    if op == "migrate":
        call_command("migrate", verbosity=0, interactive=False)
        if os.environ.get("DJANGO_CACHE_BACKEND") == "db":
            call_command("createcachetable", verbosity=0)
        return {}
    engine = ENGINES[request.get("engine", "db")]
    if op == "create_session":
        session = engine()
        session.update(request["data"])
        session.create()
        return {"key": session.session_key}
    if op == "read_session":
        session = engine(session_key=request["key"])
        if not session.exists(request["key"]):
            return {"data": None}
        return {"data": dict(session.load())}
    if op == "create_user":
        user, _ = User.objects.get_or_create(username=request["username"])
        user.set_password(request["password"])
        user.save()
        return {"id": str(user.pk)}
    if op == "login":
        user = auth.authenticate(username=request["username"], password=request["password"])
        if user is None:
            return {"error": "authentication failed"}
        http_request = request_with(SessionStore())
        auth.login(http_request, user)
        http_request.session.save()
        return {"key": http_request.session.session_key}
    if op == "set_password":
        user = User.objects.get(username=request["username"])
        user.set_password(request["password"])
        user.save()
        return {}
    if op == "session_user":
        http_request = request_with(SessionStore(session_key=request["key"]))
        user = auth.get_user(http_request)
        return {"id": str(user.pk) if user.is_authenticated else None}
    raise ValueError(f"unknown op {op!r}")


def main():
    requests = json.load(sys.stdin)
    json.dump([run(request) for request in requests], sys.stdout)


if __name__ == "__main__":
    main()
