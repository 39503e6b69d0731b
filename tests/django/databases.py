"""The Django DATABASES entry for a test database, shared by the Django peers of the interop tests."""

from urllib.parse import urlparse


def database(url):
    """A SQLite path, or a postgres:// or mysql:// URL, as Django's DATABASES["default"]."""
    if "://" not in url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url}
    parsed = urlparse(url)
    if parsed.scheme.startswith("postgres"):
        engine = "django.db.backends.postgresql"
    else:
        import pymysql

        pymysql.install_as_MySQLdb()
        engine = "django.db.backends.mysql"
    return {
        "ENGINE": engine,
        "NAME": parsed.path.lstrip("/"),
        "USER": parsed.username or "",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
    }
