"""Writes the pickle byte vectors cache-core's Django value format is tested against.

Run with the Python that Django runs on (3.11 here; pickle.HIGHEST_PROTOCOL is 5 there):

    python tests/django/cache_vectors.py > crates/cache-core/tests/data/django_pickle_vectors.json

Each vector is one value pickled by Python itself:
  - "json": the value as JSON (what the Rust side decodes it to), or null for the error cases;
  - "pickle": the bytes in hex;
  - "identical": true when the Rust encoder must produce exactly these bytes (protocol 5, values whose
    dicts have sorted keys and that share no objects);
  - "error": for values that are not JSON-like, the kind of error the decoder must report.
Integers on their own are not pickled by Django's RedisSerializer, so the "redis" vectors hold what
RedisSerializer.dumps() hands to redis-py (which sends ints as their decimal text).
"""

import datetime
import decimal
import json
import pickle
import sys

from django.core.cache.backends.redis import RedisSerializer

PROTO = pickle.HIGHEST_PROTOCOL
assert PROTO == 5, "the vectors are for protocol 5 (Python 3.8+)"

vectors = []


def add(name, value, *, identical=True, protocols=(PROTO,), as_json=None):
    for proto in protocols:
        vectors.append(
            {
                "name": f"{name} (protocol {proto})",
                "json": value if as_json is None else as_json,
                "pickle": pickle.dumps(value, proto).hex(),
                "identical": identical and proto == PROTO,
            }
        )


def add_error(name, value, error, protocols=(PROTO,)):
    for proto in protocols:
        vectors.append(
            {
                "name": f"{name} (protocol {proto})",
                "json": None,
                "pickle": pickle.dumps(value, proto).hex(),
                "identical": False,
                "error": error,
            }
        )


ALL = (2, 3, 4, 5)
add("None", None, protocols=ALL)
add("True", True, protocols=ALL)
add("False", False, protocols=ALL)
for n in [0, 1, 255, 256, 65535, 65536, -1, -128, -129, -256, 2**31 - 1, 2**31, -(2**31),
          -(2**31) - 1, 2**32, 2**40, -(2**40), 2**63 - 1, -(2**63), 2**64 - 1]:
    add(f"int {n}", n, protocols=ALL)
for f in [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, 0.1]:
    add(f"float {f!r}", f, protocols=ALL)
for s in ["", "hello", "é✓😀", "x" * 255, "x" * 256, "line\nbreak\x00nul"]:
    add(f"str of {len(s)} chars", s, protocols=ALL)
add("str of 70000 chars (larger than a frame)", "y" * 70000)
add("str of 65536 chars (exactly a frame)", "z" * 65536)
add("empty list", [], protocols=ALL)
add("list of one", [1], protocols=ALL)
add("list of two", [1, "a"], protocols=ALL)
add("list of 1001 (two batches)", list(range(1001)), protocols=ALL)
add("list of 12000 strings (two frames)", [f"s{i}" for i in range(12000)])
add("nested lists across frames", [[f"n{i}" for i in range(3000)] for _ in range(5)] + [{"k": "y" * 70000}])
add("empty dict", {}, protocols=ALL)
add("dict of one", {"a": 1}, protocols=ALL)
add("dict of two", {"a": 1, "b": [1, 2.5, None]}, protocols=ALL)
add("dict of 1001", {f"k{i:04}": i for i in range(1001)}, protocols=ALL)
add("nested", {"a": {"b": {"c": [[], {}, [True, False]]}}, "z": "end"}, protocols=ALL)
# Not byte-identical, but decoded the same:
add("dict in insertion order", {"b": 1, "a": 2}, identical=False, protocols=ALL)
add("tuple 0", (), identical=False, protocols=ALL, as_json=[])
add("tuple 1", (1,), identical=False, protocols=ALL, as_json=[1])
add("tuple 2", (1, 2), identical=False, protocols=ALL, as_json=[1, 2])
add("tuple 3", (1, 2, 3), identical=False, protocols=ALL, as_json=[1, 2, 3])
add("tuple 4", (1, 2, 3, "four"), identical=False, protocols=ALL, as_json=[1, 2, 3, "four"])
shared = [1, 2]
add("shared list", [shared, shared], identical=False, protocols=ALL)
add("json.loads keys (memo references)", json.loads('[{"key": 1}, {"key": 2}]'),
    identical=False, protocols=ALL)
add("protocol 0", {"a": [1, "x"]}, identical=False, protocols=(0, 1))

add_error("bytes", b"raw", "not_json_like", protocols=ALL)
add_error("int 2**64", 2**64, "integer_too_large", protocols=ALL)
add_error("int -(2**63)-1", -(2**63) - 1, "integer_too_large", protocols=ALL)
add_error("int 2**100", 2**100, "integer_too_large", protocols=ALL)
add_error("set", {1, 2}, "not_json_like", protocols=ALL)
add_error("datetime", datetime.datetime(2024, 1, 2, 3, 4, 5), "not_json_like", protocols=ALL)
add_error("decimal", decimal.Decimal("1.5"), "not_json_like", protocols=ALL)
add_error("dict with int keys", {1: "a"}, "not_json_like", protocols=ALL)
add_error("nan", float("nan"), "not_json_like")
add_error("inf", float("inf"), "not_json_like")

redis = []
ser = RedisSerializer()
for value in [0, 42, -7, 2**62, True, False, None, "42", 1.0, [1], {"n": 3}]:
    dumped = ser.dumps(value)
    # redis-py encodes an int as str(int).encode(); everything else is already bytes.
    wire = str(dumped).encode() if type(dumped) is int else dumped
    assert ser.loads(wire) == value and type(ser.loads(wire)) is type(value)
    redis.append({"json": value, "stored": wire.hex()})

json.dump(
    {"python": sys.version.split()[0], "protocol": PROTO, "pickle": vectors, "redis": redis},
    sys.stdout,
    indent=1,
)
print()
