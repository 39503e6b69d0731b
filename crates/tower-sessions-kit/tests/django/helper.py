#!/usr/bin/env python3
"""Signs and verifies with Django itself, for tests/django_live.rs.

Reads a JSON array of requests on stdin and writes a JSON array of answers, one per request, on stdout.
Each request names an operation and its settings (`secret`, optional `fallbacks`, optional `time` to
freeze `time.time`):

    {"op": "dumps", "salt": ..., "compress": bool, "json": "<value as JSON>"}     -> {"signed": ...}
    {"op": "loads", "salt": ..., "signed": ..., "max_age": n or null}              -> {"json": ...} or {"error": "BadSignature"}
    {"op": "session_encode", "json": ...}     SessionBase.encode (database engine) -> {"encoded": ...}
    {"op": "session_decode", "encoded": ...}  SessionBase.decode                   -> {"json": ...}
    {"op": "cookie_save", "json": ...}        signed_cookies engine, save          -> {"cookie": ...}
    {"op": "cookie_load", "cookie": ...}      signed_cookies engine, load          -> {"json": ..., "valid": bool}
"""

import json
import sys
from unittest import mock

import django
from django.conf import settings

settings.configure(SECRET_KEY="placeholder", INSTALLED_APPS=["django.contrib.sessions"], USE_TZ=True)
django.setup()

from django.contrib.sessions.backends import db, signed_cookies  # noqa: E402
from django.core import signing  # noqa: E402
from django.test.utils import override_settings  # noqa: E402


def compact(value):
    return json.dumps(value, separators=(",", ":"))


def run(request):
    op = request["op"]
    if op == "dumps":
        return {"signed": signing.dumps(json.loads(request["json"]), salt=request["salt"], compress=request["compress"])}
    if op == "loads":
        try:
            value = signing.loads(request["signed"], salt=request["salt"], max_age=request.get("max_age"))
        except signing.BadSignature as error:
            return {"error": type(error).__name__}
        except Exception as error:  # noqa: BLE001 - report what Django raised
            return {"error": type(error).__name__}
        return {"json": compact(value)}
    if op == "session_encode":
        return {"encoded": db.SessionStore().encode(json.loads(request["json"]))}
    if op == "session_decode":
        return {"json": compact(db.SessionStore().decode(request["encoded"]))}
    if op == "cookie_save":
        store = signed_cookies.SessionStore()
        store.update(json.loads(request["json"]))
        store.save()
        return {"cookie": store.session_key}
    if op == "cookie_load":
        store = signed_cookies.SessionStore(session_key=request["cookie"])
        data = store.load()
        # `load` calls `create()` (which sets `modified`) when the cookie does not verify or decode.
        return {"json": compact(data), "valid": not store.modified}
    raise ValueError(f"unknown op {op!r}")


def main():
    answers = []
    for request in json.load(sys.stdin):
        keys = override_settings(SECRET_KEY=request["secret"], SECRET_KEY_FALLBACKS=request.get("fallbacks", []))
        clock = mock.patch("time.time", return_value=request["time"]) if "time" in request else mock.MagicMock()
        with keys, clock:
            answers.append(run(request))
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
