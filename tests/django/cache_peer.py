"""Django's side of cache-core's shared-cache test (crates/cache-core/tests/django_caches.rs).

    python cache_peer.py write BACKEND LOCATION KEY_PREFIX
        Sets JSON-like values and a counter through Django's cache and prints them as JSON.
    python cache_peer.py check BACKEND LOCATION KEY_PREFIX EXPECTED_JSON
        Reads what the Rust side stored and checks, for every key, that Django reads the same value with the
        same Python types, and that the stored form is exactly the one Django itself would have stored for
        that value. Then increments the Rust side's counter through Django and prints the result.
        Exits 1 on any difference.

BACKEND and LOCATION:
    redis      a redis:// URL                    (RedisCache)
    memcached  host:port,host:port               (PyMemcacheCache)
    file       a directory                       (FileBasedCache)
    db         DATABASE_URL#TABLE: a SQLite path, postgres://… or mysql://…, and the cache table (DatabaseCache,
               made here with createcachetable when missing)

EXPECTED_JSON is {"values": {key: value}, "counters": {key: int}, "incr": key}.
"""

import base64
import json
import pickle
import sys
import zlib

import django

from databases import database
from django.conf import settings


BACKENDS = {
    "redis": "django.core.cache.backends.redis.RedisCache",
    "memcached": "django.core.cache.backends.memcached.PyMemcacheCache",
    "file": "django.core.cache.backends.filebased.FileBasedCache",
    "db": "django.core.cache.backends.db.DatabaseCache",
}


def setup(backend, location, prefix):
    databases = {}
    if backend == "db":
        url, location = location.rsplit("#", 1)
        databases = {"default": database(url)}
    elif backend == "memcached":
        location = location.split(",")
    settings.configure(
        USE_TZ=True,
        DATABASES=databases,
        CACHES={"default": {"BACKEND": BACKENDS[backend], "LOCATION": location, "KEY_PREFIX": prefix}},
    )
    django.setup()
    if backend == "db":
        from django.core.management import call_command

        call_command("createcachetable", verbosity=0)
    from django.core.cache import cache

    return cache


def same(a, b):
    """Equal with the same types all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def write(cache):
    values = {
        "str": "héllo ✓ 😀",
        "empty": "",
        "int": 42,
        "negative": -7,
        "big": 2**62 + 1,
        "float": 2.5,
        "whole_float": 1.0,
        "true": True,
        "false": False,
        "none": None,
        "list": [1, "two", 3.0, None, False],
        "dict": {"beta": ["x", {"gamma": None}], "alpha": 1},
        "tuple": (1, "one"),
        "long": "y" * 70000,
    }
    for key, value in values.items():
        cache.set(key, value)
    cache.set_many({"many_a": "a-value", "many_b": 7})
    values.update({"many_a": "a-value", "many_b": 7})
    cache.set("counter", 10)
    values["counter"] = cache.incr("counter", 5)
    values["tuple"] = list(values["tuple"])
    json.dump(values, sys.stdout)


class RawSerde:
    """A pymemcache serde that hands back what is stored: (data, flags)."""

    def serialize(self, key, value):
        raise NotImplementedError

    def deserialize(self, key, value, flags):
        return (value, flags)


def stored_forms(backend, cache, location):
    """(what is stored under a key, what Django would store for a value) for the backend."""
    if backend == "redis":
        import redis

        from django.core.cache.backends.redis import RedisSerializer

        raw = redis.Redis.from_url(location)
        serializer = RedisSerializer()

        def wanted(key, value):
            dumped = serializer.dumps(value)
            return str(dumped).encode() if type(dumped) is int else dumped

        return (lambda key: raw.get(cache.make_key(key))), wanted
    if backend == "memcached":
        from pymemcache import HashClient
        from pymemcache.serde import pickle_serde

        raw = HashClient(location.split(","), serde=RawSerde())

        def wanted(key, value):
            # The serializer gives an int's text as a str; the client sends it UTF-8 encoded.
            data, flags = pickle_serde.serialize(key, value)
            return (data.encode() if isinstance(data, str) else data, flags)

        return (lambda key: raw.get(cache.make_key(key))), wanted
    if backend == "file":

        def stored(key):
            with open(cache._key_to_file(key), "rb") as f:
                expiry = pickle.load(f)
                if expiry is not None and type(expiry) is not float:
                    return f"expiry {expiry!r} is not a float or None"
                return zlib.decompress(f.read())

        return stored, lambda key, value: pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    from django.db import connection

    def stored(key):
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(cache._table)
            cursor.execute(f"SELECT value FROM {table} WHERE cache_key = %s", [cache.make_key(key)])
            return base64.b64decode(cursor.fetchone()[0])

    return stored, lambda key, value: pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def check(backend, cache, location, expected):
    stored, wanted = stored_forms(backend, cache, location)
    problems = []
    for key, value in {**expected["values"], **expected["counters"]}.items():
        got = cache.get(key, default="<missing>")
        if not same(got, value):
            problems.append(f"{key}: Django read {got!r}, expected {value!r}")
        want = wanted(cache.make_key(key), value)
        have = stored(key)
        if have != want:
            problems.append(f"{key}: stored form differs from Django's: {str(have)[:80]} != {str(want)[:80]}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"incremented": cache.incr(expected["incr"], 1)}))


def main():
    mode, backend, location, prefix = sys.argv[1:5]
    cache = setup(backend, location, prefix)
    if mode == "write":
        write(cache)
    elif mode == "check":
        check(backend, cache, location, json.loads(sys.argv[5]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
