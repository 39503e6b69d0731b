#!/usr/bin/env python3
"""Prints test vectors made by Django itself, as JSON, for tower-sessions-kit's `django` module.

    python3 -m venv /tmp/venv-django && /tmp/venv-django/bin/pip install 'Django>=5.2,<5.3'
    /tmp/venv-django/bin/python tests/django/make_vectors.py \
        > crates/tower-sessions-kit/tests/fixtures/django_vectors.json

Everything is deterministic: fixed secret keys, `time.time` patched to fixed instants. Dict keys are
inserted in code-point order wherever the Rust side is expected to produce the identical string (a
`serde_json::Map` iterates sorted); the `unsorted` vectors keep another order and are only decoded.
"""

import json
import math
import random
import struct
import sys
import zlib
from unittest import mock

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="placeholder",
    INSTALLED_APPS=["django.contrib.sessions"],
    USE_TZ=True,
)
django.setup()

from django.contrib.sessions.backends import cache, cached_db, db, file, signed_cookies  # noqa: E402
from django.core import signing  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

SECRET = "django-insecure-+k3y!@#$%^&*(-_=+)vectors0123456789abcdefghijklmnop"
OLD_SECRET = "the-previous-secret-key-0123456789"
UNICODE_SECRET = "ключ-секрет-🔑"
T0 = 1700000000.75  # int(time.time()) is 1700000000: truncation is part of the format


def sorted_obj(obj):
    """The same object with every dict's keys inserted in code-point order."""
    if isinstance(obj, dict):
        return {key: sorted_obj(obj[key]) for key in sorted(obj)}
    if isinstance(obj, list):
        return [sorted_obj(item) for item in obj]
    return obj


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def at(timestamp):
    return mock.patch("time.time", return_value=timestamp)


def keys(secret, fallbacks=()):
    return override_settings(SECRET_KEY=secret, SECRET_KEY_FALLBACKS=list(fallbacks))


# A string that zlib cannot shrink (hex of chained SHA-256), and one it shrinks a lot.
def incompressible(n):
    import hashlib

    out, block = "", b"seed"
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block.hex()
    return out[:n]


OBJECTS = {
    "empty": {},
    "ascii": {"_auth_user_id": "42", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend"},
    "non_ascii": {"name": "Zoë Ångström", "city": "東京", "emoji": "😀🎉", "rtl": "שלום", "nul": "\x00\x1f\x7f"},
    "escapes": {"quote": '"', "backslash": "\\", "slash": "/", "controls": "\b\f\n\r\t", "ls": "\u2028\u2029"},
    "nested": {"cart": [{"sku": "A1", "qty": 2, "opts": {"gift": True, "note": None}}, [1, [2, [3, []]]]], "meta": {}},
    "numbers": {
        "ints": [0, -1, 1, 2**31, -(2**63), 2**64 - 1],
        "floats": [0.0, -0.0, 1.0, 0.1, 1.5, -2.25, 1e16, 1e15, 1e-05, 0.0001, 1.5e-07, 1e300, 5e-324, 1.7976931348623157e308, 123456789.123],
    },
    "bools_none": {"t": True, "f": False, "n": None},
    "compressible": {"data": "abc" * 400, "list": list(range(100))},
    "incompressible": {"data": incompressible(300)},
    "key_order": {"b": 1, "a": 2, "B": 3, "_": 4, "é": 5, "z": 6, "A": 7, "10": 8, "9": 9},
}


def compress_boundary():
    """Objects whose JSON zlib shrinks by exactly one byte (not compressed) and by exactly two (compressed)."""
    found = {}
    for n in range(1, 400):
        for filler in ("ab", "abc", "xyz1", "hello "):
            obj = {"v": (filler * n)[: n + 3]}
            data = compact(obj).encode("latin-1")
            saved = len(data) - len(zlib.compress(data))
            if saved in (1, 2) and saved not in found:
                found[saved] = obj
        if len(found) == 2:
            break
    return found


def float_vectors():
    values = [0.0, -0.0, 1.0, -1.0, 0.1, 0.2 + 0.1, 1 / 3, 2 / 3, 1e16, 1e15, 9999999999999998.0, 1e17, 1e-4, 1e-5,
              0.00012345, 1.5e-7, 1e22, 1e21, 1e300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
              123456789.123456789, 100.0, 1e100, 4.35, 0.3, 2.5e-5, 12345678901234567890.0, 3.141592653589793]
    # Plus seeded random ones: arbitrary bit patterns (every exponent) and ordinary decimals.
    rng = random.Random(20261207)
    for _ in range(200):
        value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(value):
            values.append(value)
    values += [round(rng.uniform(-1000, 1000), rng.randint(0, 6)) for _ in range(100)]
    out = []
    for value in values + [-v for v in values if v]:
        bits = struct.unpack("<Q", struct.pack("<d", value))[0]
        out.append({"bits": bits, "repr": json.dumps(value)})
    return out


def main():
    vectors = {
        "django_version": django.get_version(),
        "zlib_version": zlib.ZLIB_RUNTIME_VERSION,
        "secret": SECRET,
        "old_secret": OLD_SECRET,
        "unicode_secret": UNICODE_SECRET,
        "timestamp": int(T0),
        "key_salts": {
            name: module.SessionStore().key_salt
            for name, module in [("db", db), ("cache", cache), ("cached_db", cached_db), ("file", file), ("signed_cookies", signed_cookies)]
        },
        "floats": float_vectors(),
    }

    # Signer (no timestamp), including the default salt and a non-ASCII key.
    signer = []
    for secret, salt, value in [
        (SECRET, "", "hello"),
        (SECRET, "my.salt", "hello"),
        (SECRET, "my.salt", "with:colons:inside"),
        (UNICODE_SECRET, "ünïcode salt", "värde"),
    ]:
        signed = signing.Signer(key=secret, salt=salt or None, fallback_keys=[]).sign(value)
        signer.append({"secret": secret, "salt": salt, "value": value, "signed": signed})
    vectors["signer"] = signer

    timestamp_signer = []
    for secret, salt, value, timestamp in [
        (SECRET, "", "hello", T0),
        (SECRET, "my.salt", "hello", 0.5),
        (SECRET, "my.salt", "hello", 4102444800.0),
    ]:
        with at(timestamp):
            signed = signing.TimestampSigner(key=secret, salt=salt or None, fallback_keys=[]).sign(value)
        timestamp_signer.append({"secret": secret, "salt": salt, "value": value, "timestamp": int(timestamp), "signed": signed})
    vectors["timestamp_signer"] = timestamp_signer

    # signing.dumps of every object, compressed and not, default salt and another one.
    dumps = []
    objects = dict((name, sorted_obj(obj)) for name, obj in OBJECTS.items())
    for saved, obj in compress_boundary().items():
        objects[f"compress_boundary_saves_{saved}"] = obj
    objects["list_top_level"] = [1, "two", 3.0]
    objects["string_top_level"] = "just a string"
    for name, obj in objects.items():
        for salt in ("django.core.signing", "another.salt"):
            for compress in (False, True):
                with keys(SECRET), at(T0):
                    signed = signing.dumps(obj, salt=salt, compress=compress)
                dumps.append({
                    "name": name, "salt": salt, "compress": compress, "json": compact(obj), "signed": signed,
                    "compressed": signed.startswith("."),
                })
    vectors["dumps"] = dumps

    # Session data: SessionBase.encode (db engine) and the signed_cookies engine's cookie value.
    sessions = []
    for name, obj in objects.items():
        if not isinstance(obj, dict):
            continue
        with keys(SECRET), at(T0):
            encoded = db.SessionStore().encode(obj)
            store = signed_cookies.SessionStore()
            store.update(obj)
            store.save()
            cookie = store.session_key
        with keys(SECRET), at(T0 + 60):
            assert db.SessionStore().decode(encoded) == obj
            assert signed_cookies.SessionStore(session_key=cookie).load() == obj
        sessions.append({"name": name, "json": compact(obj), "encoded": encoded, "signed_cookie": cookie})
    vectors["sessions"] = sessions

    # Rotation: signed with the old key, verified under SECRET_KEY=SECRET, FALLBACKS=[OLD_SECRET].
    fallback = []
    obj = sorted_obj(OBJECTS["ascii"])
    with keys(OLD_SECRET), at(T0):
        encoded = db.SessionStore().encode(obj)
        store = signed_cookies.SessionStore()
        store.update(obj)
        store.save()
        cookie = store.session_key
    with keys(SECRET, [OLD_SECRET]), at(T0 + 60):
        assert db.SessionStore().decode(encoded) == obj
        assert signed_cookies.SessionStore(session_key=cookie).load() == obj
    with keys(SECRET), at(T0 + 60):
        assert db.SessionStore().decode(encoded) == {}
        assert signed_cookies.SessionStore(session_key=cookie).load() == {}
    fallback.append({"json": compact(obj), "encoded": encoded, "signed_cookie": cookie})
    vectors["fallback"] = fallback

    # max_age: Django's `time.time() - timestamp > max_age`.
    expiry = []
    with keys(SECRET), at(T0):
        signed = signing.dumps({"a": 1})
    base = int(T0)
    for now, max_age in [(base + 9.5, 10), (base + 10.0, 10), (base + 10.25, 10), (base + 11.0, 10), (base - 1000.0, 10)]:
        with keys(SECRET), at(now):
            try:
                signing.loads(signed, max_age=max_age)
                outcome = "ok"
            except signing.SignatureExpired:
                outcome = "expired"
        expiry.append({"signed": signed, "now": now, "max_age": max_age, "outcome": outcome})
    vectors["expiry"] = expiry

    # Values Django signs but a serde_json::Value cannot hold.
    unrepresentable = []
    for name, obj in [
        ("nan", {"x": float("nan")}),
        ("infinity", {"x": float("inf")}),
        ("minus_infinity", {"x": float("-inf")}),
        ("big_int", {"x": 2**64}),
        ("small_int", {"x": -(2**63) - 1}),
        ("lone_surrogate", {"x": "\ud800"}),
    ]:
        with keys(SECRET), at(T0):
            signed = signing.dumps(obj)
        unrepresentable.append({"name": name, "signed": signed, "json": compact(obj)})
    vectors["unrepresentable"] = unrepresentable

    # Dicts whose keys Django inserted out of code-point order: decoded, not reproduced.
    unsorted = []
    for name in ("key_order", "nested", "ascii"):
        obj = OBJECTS[name]
        with keys(SECRET), at(T0):
            signed = signing.dumps(obj, compress=True)
        unsorted.append({"name": name, "signed": signed, "json": compact(obj)})
    vectors["unsorted"] = unsorted

    json.dump(vectors, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
