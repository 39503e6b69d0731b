"""Page cache keys as Django computes them, for tower-cache-page's key tests.

Run with a Python that has Django installed (the tests were generated with Django 5.2):

    python tests/django/page_keys.py > tests/django/page_keys.txt

Each case builds a WSGI request with Django's RequestFactory (repeated header lines joined with ",", as
WSGI servers join them), lets `learn_cache_key` learn a response's `Vary`, and prints the header-list key
and the page key after the cache's default key function (KEY_PREFIX:VERSION:key). The output is one
block per case of tab-separated lines; header values and paths are hex so any byte survives.
"""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    USE_I18N=False,
    USE_TZ=False,
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
)
django.setup()

from django.core.cache import caches  # noqa: E402
from django.core.cache.backends.base import default_key_func  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils.cache import _generate_cache_header_key, learn_cache_key  # noqa: E402

# name, method, scheme, host, path (raw), query (raw), [(header, value bytes)], Vary or None,
# page key prefix, cache KEY_PREFIX, cache VERSION, LANGUAGE_CODE (USE_I18N) or None, TIME_ZONE (USE_TZ) or None
CASES = [
    ("no-vary", "GET", "http", "testserver", "/cache/test/", "", [], None, "", "", 1, None, None),
    ("vary-ae-present", "GET", "http", "testserver", "/p", "", [("Accept-Encoding", b"gzip, deflate")],
     "Accept-Encoding", "", "", 1, None, None),
    ("vary-ae-absent", "GET", "http", "testserver", "/p", "", [], "Accept-Encoding", "", "", 1, None, None),
    ("vary-ae-empty", "GET", "http", "testserver", "/p", "", [("Accept-Encoding", b"")],
     "Accept-Encoding", "", "", 1, None, None),
    ("vary-ae-repeated", "GET", "http", "testserver", "/p", "",
     [("Accept-Encoding", b"gzip"), ("Accept-Encoding", b"br")], "Accept-Encoding", "", "", 1, None, None),
    ("vary-two", "GET", "http", "testserver", "/p", "",
     [("Cookie", b"a=1; b=2"), ("Accept-Encoding", b"gzip")], "Cookie, Accept-Encoding", "", "", 1, None, None),
    ("vary-two-one-absent", "GET", "http", "testserver", "/p", "", [("Cookie", b"a=1")],
     "Accept-Encoding,Cookie", "", "", 1, None, None),
    ("vary-order-dash-underscore", "GET", "http", "testserver", "/p", "",
     [("X-A-B", b"1"), ("X-AB", b"2"), ("X-A9", b"3")], "X-A-B, X-AB, X-A9", "", "", 1, None, None),
    ("vary-content-type", "GET", "http", "testserver", "/p", "", [("Content-Type", b"text/plain")],
     "Content-Type", "", "", 1, None, None),
    ("vary-latin1-value", "GET", "http", "testserver", "/p", "", [("Cookie", b"name=caf\xe9")],
     "Cookie", "", "", 1, None, None),
    ("query", "GET", "http", "testserver", "/search", "q=rust&page=2", [], None, "", "", 1, None, None),
    ("query-empty", "GET", "http", "testserver", "/search", "", [], None, "", "", 1, None, None),
    ("query-escaped", "GET", "http", "testserver", "/search", "q=a%20b&x=%E9&y=[1]", [], None, "", "", 1,
     None, None),
    ("path-escaped", "GET", "http", "testserver", "/caf%C3%A9/%41;x=1,y", "", [], None, "", "", 1, None, None),
    ("path-invalid-utf8", "GET", "http", "testserver", "/a%E9b/%zz", "", [], None, "", "", 1, None, None),
    ("host-port", "GET", "http", "example.com:8080", "/p", "", [], None, "", "", 1, None, None),
    ("host-case", "GET", "http", "Example.COM", "/p", "", [], None, "", "", 1, None, None),
    ("https", "GET", "https", "secure.example", "/p", "a=1", [], None, "", "", 1, None, None),
    ("head", "HEAD", "http", "testserver", "/p", "", [("Accept-Encoding", b"gzip")], "Accept-Encoding", "",
     "", 1, None, None),
    ("key-prefixes", "GET", "http", "testserver", "/p", "", [], None, "pages", "myapp", 2, None, None),
    ("i18n", "GET", "http", "testserver", "/p", "", [("Accept-Language", b"fr"), ("Accept-Encoding", b"gzip")],
     "Accept-Language, Accept-Encoding", "", "", 1, "en-us", None),
    ("tz", "GET", "http", "testserver", "/p", "", [], None, "", "", 1, None, "Europe/Paris"),
    ("i18n-tz", "GET", "http", "testserver", "/p", "q=1", [("Accept-Language", b"de")], "Accept-Language",
     "site", "", 1, "pt-br", "America/Argentina/Buenos_Aires"),
    ("no-i18n-vary-language", "GET", "http", "testserver", "/p", "", [("Accept-Language", b"de")],
     "Accept-Language", "", "", 1, None, None),
]


def meta(headers):
    out = {}
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = value.decode("iso-8859-1")
        out[key] = out[key] + "," + value if key in out else value
    return out


def main():
    factory = RequestFactory()
    cache = caches["default"]
    for (name, method, scheme, host, path, query, headers, vary, prefix, cache_prefix, version, language,
         time_zone) in CASES:
        extra = meta(headers)
        extra["HTTP_HOST"] = host
        if query:
            extra["QUERY_STRING"] = query
        request = factory.generic(method, path, secure=scheme == "https", **extra)
        response = HttpResponse()
        if vary is not None:
            response["Vary"] = vary
        overrides = {
            "USE_I18N": language is not None,
            "LANGUAGE_CODE": language or "en-us",
            "USE_TZ": time_zone is not None,
            "TIME_ZONE": time_zone or "America/Chicago",
        }
        with override_settings(**overrides):
            header_key = _generate_cache_header_key(prefix, request)
            page_key = learn_cache_key(request, response, 60, prefix, cache)
        print("case\t" + name)
        print("method\t" + method)
        print("scheme\t" + scheme)
        print("host\t" + host)
        print("path\t" + path)
        print("query\t" + query)
        for header, value in headers:
            print("header\t%s\t%s" % (header, value.hex()))
        print("vary\t" + ("-" if vary is None else vary))
        print("prefix\t" + prefix)
        print("cache_prefix\t" + cache_prefix)
        print("version\t%d" % version)
        print("language\t" + (language or "-"))
        print("time_zone\t" + (time_zone or "-"))
        print("absolute_uri\t" + request.build_absolute_uri())
        print("header_key\t" + default_key_func(header_key, cache_prefix, version))
        print("page_key\t" + default_key_func(page_key, cache_prefix, version))
        print()


main()
