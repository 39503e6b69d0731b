"""Django's side of cache-core's shared-Redis test (crates/cache-core/tests/django_redis.rs).

    python redis_peer.py write REDIS_URL KEY_PREFIX
        Sets JSON-like values and a counter through Django's RedisCache and prints them as JSON.
    python redis_peer.py check REDIS_URL KEY_PREFIX EXPECTED_JSON
        Reads what the Rust side stored and checks, for every key, that Django reads the same value with the
        same Python types, and that the bytes in Redis are exactly the ones Django itself would have stored
        for that value. Then increments the Rust side's counter through Django and prints the result.
        Exits 1 on any difference.

EXPECTED_JSON is {"values": {key: value}, "counters": {key: int}, "incr": key}.
"""

import json
import sys

import django
from django.conf import settings


def setup(url, prefix):
    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": prefix,
            }
        }
    )
    django.setup()
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


def check(cache, url, prefix, expected):
    import redis

    from django.core.cache.backends.redis import RedisSerializer

    raw = redis.Redis.from_url(url)
    serializer = RedisSerializer()
    problems = []
    for key, value in {**expected["values"], **expected["counters"]}.items():
        got = cache.get(key, default="<missing>")
        if not same(got, value):
            problems.append(f"{key}: Django read {got!r}, expected {value!r}")
        dumped = serializer.dumps(value)
        wanted = str(dumped).encode() if type(dumped) is int else dumped
        stored = raw.get(cache.make_key(key))
        if stored != wanted:
            problems.append(
                f"{key}: stored bytes differ from Django's: {stored[:80]!r} != {wanted[:80]!r}"
            )
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"incremented": cache.incr(expected["incr"], 1)}))


def main():
    mode, url, prefix = sys.argv[1:4]
    cache = setup(url, prefix)
    if mode == "write":
        write(cache)
    elif mode == "check":
        check(cache, url, prefix, json.loads(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
