//! The SQL text of every statement, per database. Nothing here talks to a database: the statements are
//! built once per backend (with the table name quoted) and the logic in `ops.rs` runs them the same way on
//! all three.
//!
//! Bind order is the textual order on every dialect (MySQL's `?` placeholders are positional), so a
//! statement's parameters are documented next to it and the caller binds them in that order.

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// Which SQL database a [`DatabaseBackend`](super::DatabaseBackend) talks to.
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

impl Dialect {
    /// The backend name used in logs and errors: `"sqlite"`, `"postgres"` or `"mysql"`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }

    /// Quotes `ident` as one identifier, so any table name (spaces, quotes, keywords) is safe in SQL text.
    pub(crate) fn quote(self, ident: &str) -> String {
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

    /// The `n`th (1-based) bind placeholder.
    fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
            Dialect::MySql => "?".to_owned(),
        }
    }

    /// The expiry of `column` as an integer. SQLite columns are dynamically typed, so a row written by hand
    /// may hold text there: `CAST` turns anything into an integer (garbage becomes 0, i.e. expired), which
    /// makes such a row a miss rather than a live entry. The expiry index is on the same expression.
    fn expires_of(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({column} AS INTEGER)"),
            Dialect::Postgres | Dialect::MySql => column.to_owned(),
        }
    }

    /// The value column as bytes. On SQLite a hand-written row may hold text or a number; `CAST` reads any of
    /// them as bytes (NULL stays NULL and is reported as a corrupted row).
    fn value_expr(self) -> &'static str {
        match self {
            Dialect::Sqlite => "CAST(value AS BLOB)",
            Dialect::Postgres | Dialect::MySql => "value",
        }
    }

    /// Checks that `table` is a usable identifier on this database; [`Error::Config`] says why not.
    pub(crate) fn validate_table(self, table: &str) -> Result<()> {
        let problem = if table.is_empty() {
            Some("is empty")
        } else if table.contains('\0') {
            Some("contains a NUL character")
        } else {
            match self {
                // SQLite reserves these for its own tables and indexes, whatever the case.
                Dialect::Sqlite
                    if table
                        .get(..SQLITE_RESERVED_PREFIX.len())
                        .is_some_and(|start| {
                            start.eq_ignore_ascii_case(SQLITE_RESERVED_PREFIX)
                        }) =>
                {
                    Some("starts with `sqlite_`, which is reserved for SQLite's own tables")
                }
                Dialect::Sqlite => None,
                // PostgreSQL silently truncates identifiers to 63 bytes; the index is named
                // `<table>_expires`, and two truncated index names could collide.
                Dialect::Postgres if table.len() > 55 => {
                    Some("is longer than 55 bytes (63 with the `_expires` index suffix)")
                }
                Dialect::MySql if table.chars().count() > 64 => {
                    Some("is longer than 64 characters")
                }
                Dialect::MySql if table.ends_with(' ') => Some("ends with a space"),
                Dialect::Postgres | Dialect::MySql => None,
            }
        };
        match problem {
            Some(problem) => Err(Error::Config(format!(
                "cache table name {table:?} {problem}, which {} does not accept",
                self.name()
            ))),
            None => Ok(()),
        }
    }

    /// `p1, p2, …, pn` starting at placeholder `first`.
    fn placeholder_list(self, first: usize, n: usize) -> String {
        let mut list = String::with_capacity(n * 4);
        for i in 0..n {
            if i > 0 {
                list.push_str(", ");
            }
            list.push_str(&self.placeholder(first + i));
        }
        list
    }

    /// What an upsert does on a key conflict: take the new value and expiry.
    fn upsert_clause(self) -> &'static str {
        match self {
            Dialect::Sqlite | Dialect::Postgres => {
                "ON CONFLICT (cache_key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms"
            }
            // `VALUES(col)` works on MariaDB and MySQL (deprecated there in 8.0.20 for a row alias, which
            // MariaDB does not support).
            Dialect::MySql => {
                "ON DUPLICATE KEY UPDATE value = VALUES(value), expires_ms = VALUES(expires_ms)"
            }
        }
    }
}

/// How `add` is done on a dialect.
#[derive(Debug, Clone)]
pub(crate) enum AddSql {
    /// One statement: insert, or overwrite only an expired row (`ON CONFLICT … DO UPDATE … WHERE`).
    /// Binds: key, value, expiry, now. Stored ⇔ one row affected.
    Upsert(String),
    /// MySQL: sqlx connects with `CLIENT_FOUND_ROWS`, so `INSERT … ON DUPLICATE KEY UPDATE` reports 1 both
    /// for an insert and for an untouched live row, and cannot tell them apart. So: delete the row if it is
    /// expired (binds: key, now), then insert (binds: key, value, expiry); a duplicate-key error means a live
    /// row exists. Every interleaving of two adders, or of an adder and a `set`, gives the same outcome as
    /// some serial order.
    DeleteExpiredThenInsert {
        /// `DELETE … WHERE cache_key = ? AND expires_ms <= ?`.
        delete_expired: String,
        /// A plain `INSERT`.
        insert: String,
    },
}

/// Every fixed statement of one backend, with the table name quoted. Built once.
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    pub(crate) dialect: Dialect,
    quoted_table: String,
    /// Binds: key, now. One column: the value.
    pub(crate) get: String,
    /// Binds: key, now. A row iff live.
    pub(crate) has_key: String,
    /// Binds: key, value, expiry.
    pub(crate) set: String,
    pub(crate) add: AddSql,
    /// Binds: expiry, key, now. Rows affected: 1 iff the row was live (MySQL reports found rows).
    pub(crate) touch: String,
    /// Binds: key, now. Deletes only a live row, so rows affected says whether one was removed.
    pub(crate) delete: String,
    /// Binds: key, now. The live value, locked for update until the transaction ends.
    pub(crate) lock_value: String,
    /// Binds: value, key.
    pub(crate) update_value: String,
    /// Binds: new value, expiry, key, now, expected value. Rows affected: 1 iff the live value was the
    /// expected one (MySQL reports found rows, which is the same here).
    pub(crate) compare_and_set: String,
    /// Starts a transaction that will write (SQLite takes the write lock at once, so two `incr`s never
    /// deadlock upgrading a read lock).
    pub(crate) begin_write: &'static str,
    /// No binds.
    pub(crate) clear: String,
    /// No binds. One column: the row count.
    pub(crate) count: String,
    /// Binds: now.
    pub(crate) cull_expired: String,
    /// Binds: how many rows. Deletes the rows that expire soonest (ties by key).
    pub(crate) cull_soonest: String,
    /// Run in order; each is idempotent.
    pub(crate) create: Vec<String>,
    /// No binds.
    pub(crate) drop: String,
}

impl Statements {
    /// The statements for `table` on `dialect`. The table name must have passed
    /// [`Dialect::validate_table`].
    pub(crate) fn new(dialect: Dialect, table: &str) -> Self {
        let d = dialect;
        let t = d.quote(table);
        let p = |n| d.placeholder(n);
        let live = format!("{} > {}", d.expires_of("expires_ms"), p(2));
        let value = d.value_expr();
        let columns = "(cache_key, value, expires_ms)";
        let insert = format!(
            "INSERT INTO {t} {columns} VALUES ({}, {}, {})",
            p(1),
            p(2),
            p(3)
        );
        let add = match d {
            Dialect::Sqlite | Dialect::Postgres => AddSql::Upsert(format!(
                "{insert} {} WHERE {} <= {}",
                d.upsert_clause(),
                d.expires_of(&format!("{t}.expires_ms")),
                p(4)
            )),
            Dialect::MySql => AddSql::DeleteExpiredThenInsert {
                delete_expired: format!("DELETE FROM {t} WHERE cache_key = ? AND expires_ms <= ?"),
                insert: insert.clone(),
            },
        };
        let index = d.quote(&format!("{table}_expires"));
        let create = match d {
            Dialect::Sqlite => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (cache_key BLOB NOT NULL PRIMARY KEY, \
                     value BLOB NOT NULL, expires_ms INTEGER NOT NULL)"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {index} ON {t} ({})",
                    d.expires_of("expires_ms")
                ),
            ],
            Dialect::Postgres => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (cache_key BYTEA NOT NULL PRIMARY KEY, \
                     value BYTEA NOT NULL, expires_ms BIGINT NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expires_ms)"),
            ],
            // Index names are per table on MySQL, so a fixed one is fine; `CREATE INDEX IF NOT EXISTS` is
            // MariaDB-only, hence the index inside the CREATE TABLE.
            Dialect::MySql => vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (cache_key VARBINARY(1020) NOT NULL PRIMARY KEY, \
                 value LONGBLOB NOT NULL, expires_ms BIGINT NOT NULL, \
                 KEY cache_expires_ms (expires_ms)) ENGINE=InnoDB"
            )],
        };
        let cull_soonest = match d {
            Dialect::Sqlite | Dialect::Postgres => format!(
                "DELETE FROM {t} WHERE cache_key IN \
                 (SELECT cache_key FROM {t} ORDER BY {}, cache_key LIMIT {})",
                d.expires_of("expires_ms"),
                p(1)
            ),
            // MySQL rejects LIMIT in an IN subquery but has DELETE … ORDER BY … LIMIT.
            Dialect::MySql => format!("DELETE FROM {t} ORDER BY expires_ms, cache_key LIMIT ?"),
        };
        Statements {
            dialect,
            get: format!(
                "SELECT {value} FROM {t} WHERE cache_key = {} AND {live}",
                p(1)
            ),
            has_key: format!("SELECT 1 FROM {t} WHERE cache_key = {} AND {live}", p(1)),
            set: format!("{insert} {}", d.upsert_clause()),
            add,
            touch: format!(
                "UPDATE {t} SET expires_ms = {} WHERE cache_key = {} AND {} > {}",
                p(1),
                p(2),
                d.expires_of("expires_ms"),
                p(3)
            ),
            delete: format!("DELETE FROM {t} WHERE cache_key = {} AND {live}", p(1)),
            lock_value: format!(
                "SELECT {value} FROM {t} WHERE cache_key = {} AND {live}{}",
                p(1),
                match d {
                    Dialect::Sqlite => "",
                    Dialect::Postgres | Dialect::MySql => " FOR UPDATE",
                }
            ),
            update_value: format!("UPDATE {t} SET value = {} WHERE cache_key = {}", p(1), p(2)),
            compare_and_set: format!(
                "UPDATE {t} SET value = {}, expires_ms = {} WHERE cache_key = {} AND {} > {} \
                 AND {value} = {}",
                p(1),
                p(2),
                p(3),
                d.expires_of("expires_ms"),
                p(4),
                p(5)
            ),
            begin_write: match d {
                Dialect::Sqlite => "BEGIN IMMEDIATE",
                Dialect::Postgres | Dialect::MySql => "BEGIN",
            },
            clear: format!("DELETE FROM {t}"),
            count: format!("SELECT COUNT(*) FROM {t}"),
            cull_expired: format!(
                "DELETE FROM {t} WHERE {} <= {}",
                d.expires_of("expires_ms"),
                p(1)
            ),
            cull_soonest,
            create,
            drop: format!("DROP TABLE IF EXISTS {t}"),
            quoted_table: t,
        }
    }

    /// Binds: now, then `n` keys. Columns: key, value, of the live rows among the keys.
    pub(crate) fn get_many(&self, n: usize) -> String {
        let d = self.dialect;
        format!(
            "SELECT cache_key, {} FROM {} WHERE {} > {} AND cache_key IN ({})",
            d.value_expr(),
            self.quoted_table,
            d.expires_of("expires_ms"),
            d.placeholder(1),
            d.placeholder_list(2, n)
        )
    }

    /// Binds: `n` keys.
    pub(crate) fn delete_many(&self, n: usize) -> String {
        format!(
            "DELETE FROM {} WHERE cache_key IN ({})",
            self.quoted_table,
            self.dialect.placeholder_list(1, n)
        )
    }

    /// Binds: key, value, expiry for each of `rows` rows. The keys must be distinct (PostgreSQL refuses to
    /// update one row twice in a statement).
    pub(crate) fn set_many(&self, rows: usize) -> String {
        let d = self.dialect;
        let mut sql = format!(
            "INSERT INTO {} (cache_key, value, expires_ms) VALUES ",
            self.quoted_table
        );
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "({})", d.placeholder_list(row * 3 + 1, 3));
        }
        sql.push(' ');
        sql.push_str(d.upsert_clause());
        sql
    }
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
        let sql = Statements::new(Dialect::Postgres, "t").set_many(2);
        assert!(
            sql.contains("($1, $2, $3), ($4, $5, $6) ON CONFLICT"),
            "{sql}"
        );
    }

    #[test]
    fn bad_table_names_are_config_errors() {
        for (dialect, name) in [
            (Dialect::Sqlite, ""),
            (Dialect::Sqlite, "a\0b"),
            (Dialect::Postgres, &"x".repeat(56)),
            (Dialect::MySql, &"x".repeat(65)),
            (Dialect::MySql, "trailing "),
            (Dialect::Sqlite, "sqlite_cache"),
            (Dialect::Sqlite, "SQLite_"),
        ] {
            assert!(
                matches!(dialect.validate_table(name), Err(Error::Config(_))),
                "{dialect:?} {name:?}"
            );
        }
        assert!(Dialect::MySql.validate_table("a \"b\" `c`").is_ok());
        assert!(Dialect::Sqlite.validate_table("my_sqlite_cache").is_ok());
        assert!(Dialect::Sqlite.validate_table("sqlite").is_ok());
        assert!(Dialect::Postgres.validate_table("sqlite_cache").is_ok());
        assert!(Dialect::Postgres.validate_table(&"x".repeat(55)).is_ok());
    }
}
