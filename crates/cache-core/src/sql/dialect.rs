//! [`Dialect`]: which SQL database, and the few pieces of SQL text that differ between them for any table.

use super::error::OpenError;
use crate::url::redact;

/// Which SQL database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite 3 (embedded; a file or `:memory:`).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB (InnoDB).
    MySql,
}

/// The prefix SQLite refuses in the names of tables and indexes it did not make.
const SQLITE_RESERVED_PREFIX: &str = "sqlite_";

/// Whether SQLite refuses `name` for a table or index: it starts with `sqlite_`, in any case. Checked when
/// a table name is chosen, so that the mistake is a clear configuration error instead of SQLite's "object
/// name reserved for internal use" at the first statement.
pub fn is_sqlite_reserved_name(name: &str) -> bool {
    name.get(..SQLITE_RESERVED_PREFIX.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(SQLITE_RESERVED_PREFIX))
}

impl Dialect {
    /// The name used in logs and errors: `"sqlite"`, `"postgres"` or `"mysql"`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }

    /// The database a URL names: `sqlite:` (`sqlite://path`, `sqlite::memory:`), `postgres://` or
    /// `postgresql://`, `mysql://` or `mariadb://` (any case), when this build has its feature.
    /// [`OpenError::NoScheme`] or [`OpenError::UnknownScheme`] otherwise.
    pub fn of_url(url: &str) -> Result<Dialect, OpenError> {
        let Some((scheme, _)) = url.split_once(':') else {
            return Err(OpenError::NoScheme { url: redact(url) });
        };
        let scheme = scheme.to_ascii_lowercase();
        let dialect = match scheme.as_str() {
            "sqlite" if cfg!(feature = "sqlite") => Dialect::Sqlite,
            "postgres" | "postgresql" if cfg!(feature = "postgres") => Dialect::Postgres,
            "mysql" | "mariadb" if cfg!(feature = "mysql") => Dialect::MySql,
            _ => {
                return Err(OpenError::UnknownScheme {
                    scheme,
                    url: redact(url),
                    known: enabled_schemes(),
                })
            }
        };
        Ok(dialect)
    }

    /// Quotes `ident` as one identifier (the quote character doubled inside), so any table name (spaces,
    /// quotes, keywords) is safe in SQL text.
    pub fn quote(self, ident: &str) -> String {
        let (open, close) = match self {
            Dialect::Sqlite | Dialect::Postgres => ('"', '"'),
            Dialect::MySql => ('`', '`'),
        };
        let mut quoted = String::with_capacity(ident.len() + 2);
        quoted.push(open);
        for c in ident.chars() {
            if c == close {
                quoted.push(close);
            }
            quoted.push(c);
        }
        quoted.push(close);
        quoted
    }

    /// The `n`th (1-based) bind placeholder: `?n` on SQLite, `$n` on PostgreSQL, `?` on MySQL (positional,
    /// so binds always go in textual order).
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
            Dialect::MySql => "?".to_owned(),
        }
    }

    /// `p1, p2, …, pn`: `n` placeholders starting at number `first`.
    pub fn placeholder_list(self, first: usize, n: usize) -> String {
        let mut list = String::with_capacity(n * 4);
        for i in 0..n {
            if i > 0 {
                list.push_str(", ");
            }
            list.push_str(&self.placeholder(first + i));
        }
        list
    }

    /// The statement that starts a transaction that will write: SQLite's `BEGIN IMMEDIATE` takes the write
    /// lock at once, so two read-then-write transactions never deadlock upgrading a read lock; the servers'
    /// `BEGIN` (their rows are locked with [`for_update`](Self::for_update)).
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres | Dialect::MySql => "BEGIN",
        }
    }

    /// What ends a `SELECT` that locks its rows until the transaction ends: ` FOR UPDATE` on the servers,
    /// nothing on SQLite (its [`begin_write`](Self::begin_write) already holds the database).
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres | Dialect::MySql => " FOR UPDATE",
        }
    }

    /// An instant given as Unix milliseconds (the expression `millis`, a parameter or a column) in the type
    /// Django's `DateTimeField` has on this database with `USE_TZ = True`, so it compares with and is
    /// stored into Django's date-time columns (`django_session.expire_date`, the database cache's
    /// `expires`): naive UTC text `YYYY-MM-DD HH:MM:SS.fff` on SQLite (compared as text, as Django does),
    /// `timestamp with time zone` on PostgreSQL, a naive UTC `datetime(6)` on MySQL, whatever the
    /// session's time zone.
    pub fn django_datetime(self, millis: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("strftime('%Y-%m-%d %H:%M:%f', {millis} / 1000.0, 'unixepoch')")
            }
            Dialect::Postgres => {
                format!("to_timestamp(CAST({millis} AS DOUBLE PRECISION) / 1000)")
            }
            Dialect::MySql => {
                format!("TIMESTAMPADD(MICROSECOND, {millis} * 1000, '1970-01-01 00:00:00')")
            }
        }
    }

    /// The inverse of [`django_datetime`](Self::django_datetime): a Django date-time `column` (already
    /// quoted) as Unix milliseconds.
    pub fn django_datetime_millis(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("CAST(ROUND((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)")
            }
            Dialect::Postgres => format!("CAST(EXTRACT(EPOCH FROM {column}) * 1000 AS BIGINT)"),
            Dialect::MySql => format!(
                "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {column}) DIV 1000 AS SIGNED)"
            ),
        }
    }

    /// A text `column` (already quoted) read as bytes, as the drivers read `BLOB`/`BYTEA`/`VARBINARY`.
    pub fn text_as_bytes(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({column} AS BLOB)"),
            Dialect::Postgres => format!("convert_to({column}, 'UTF8')"),
            Dialect::MySql => format!("CAST({column} AS BINARY)"),
        }
    }
}

/// The database URL schemes this build can open, by enabled feature.
pub(crate) fn enabled_schemes() -> Vec<&'static str> {
    let mut schemes = Vec::new();
    if cfg!(feature = "sqlite") {
        schemes.push("sqlite");
    }
    if cfg!(feature = "postgres") {
        schemes.extend(["postgres", "postgresql"]);
    }
    if cfg!(feature = "mysql") {
        schemes.extend(["mysql", "mariadb"]);
    }
    schemes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_the_quote_doubled() {
        assert_eq!(Dialect::Sqlite.quote(r#"my "t""#), r#""my ""t""""#);
        assert_eq!(Dialect::Postgres.quote("a b"), r#""a b""#);
        assert_eq!(Dialect::MySql.quote("we`ird \"x\""), "`we``ird \"x\"`");
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        assert_eq!(Dialect::Sqlite.placeholder_list(2, 3), "?2, ?3, ?4");
        assert_eq!(Dialect::Postgres.placeholder_list(1, 2), "$1, $2");
        assert_eq!(Dialect::MySql.placeholder_list(5, 2), "?, ?");
    }

    #[test]
    fn schemes_map_to_dialects() {
        if cfg!(feature = "sqlite") {
            assert_eq!(
                Dialect::of_url("sqlite::memory:").expect("valid"),
                Dialect::Sqlite
            );
            assert_eq!(
                Dialect::of_url("SQLite://x.db").expect("valid"),
                Dialect::Sqlite
            );
        }
        match Dialect::of_url("redis://user:secret@host") {
            Err(OpenError::UnknownScheme { scheme, url, known }) => {
                assert_eq!(scheme, "redis");
                assert!(!url.contains("secret"), "{url}");
                assert!(!known.is_empty());
            }
            other => panic!("expected UnknownScheme, got {other:?}"),
        }
        assert!(matches!(
            Dialect::of_url("no scheme here"),
            Err(OpenError::NoScheme { .. })
        ));
    }

    #[test]
    fn sqlite_reserves_its_prefix_in_any_case() {
        for name in ["sqlite_cache", "SQLite_", "SQLITE_x"] {
            assert!(is_sqlite_reserved_name(name), "{name}");
        }
        for name in ["sqlite", "my_sqlite_cache", "", "é"] {
            assert!(!is_sqlite_reserved_name(name), "{name}");
        }
    }
}
