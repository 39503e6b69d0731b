//! The SQL text of every statement of the database cache, per database. Nothing here talks to a database:
//! the statements are built once per backend (with the table name quoted) and the logic in `ops.rs` runs
//! them the same way on all three.
//!
//! Bind order is the textual order on every dialect (MySQL's `?` placeholders are positional), so a
//! statement's parameters are documented next to it and the caller binds them in that order.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::sql::{is_sqlite_reserved_name, Dialect};

/// How the table holds an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Layout {
    /// This crate's: the key and the value as bytes, the expiry as Unix milliseconds (`expires_ms`).
    #[default]
    Native,
    /// Django's `createcachetable`: `cache_key varchar(255)`, `value` text holding the base64 of the
    /// pickled value, `expires` a date-time (see [`Dialect::django_datetime`]).
    Django,
}

/// The SQL of one layout on one dialect: column names and how keys, values and instants are written.
#[derive(Debug, Clone, Copy)]
struct Shape {
    d: Dialect,
    layout: Layout,
}

impl Shape {
    /// The quoted column names: key, value, expiry.
    fn columns(self) -> (String, String, String) {
        let expires = match self.layout {
            Layout::Native => "expires_ms",
            Layout::Django => "expires",
        };
        (
            self.d.quote("cache_key"),
            self.d.quote("value"),
            self.d.quote(expires),
        )
    }

    /// The expiry `column` as it is compared. In this crate's layout on SQLite, whose columns are
    /// dynamically typed, a row written by hand may hold text there: `CAST` turns anything into an integer
    /// (garbage becomes 0, i.e. expired), which makes such a row a miss rather than a live entry. The
    /// expiry index is on the same expression.
    fn expires_of(self, column: &str) -> String {
        match (self.layout, self.d) {
            (Layout::Native, Dialect::Sqlite) => format!("CAST({column} AS INTEGER)"),
            _ => column.to_owned(),
        }
    }

    /// Parameter `n`, an instant bound as Unix milliseconds, in the expiry column's type.
    fn instant(self, n: usize) -> String {
        let param = self.d.placeholder(n);
        match self.layout {
            Layout::Native => param,
            Layout::Django => self.d.django_datetime(&param),
        }
    }

    /// A key or value `column` (quoted) as read: bytes. On SQLite a hand-written row may hold text or a
    /// number; `CAST` reads any of them as bytes (NULL stays NULL and is reported as a corrupted row).
    /// Django's columns are text.
    fn read(self, column: &str) -> String {
        match (self.layout, self.d) {
            (Layout::Django, d) => d.text_as_bytes(column),
            (Layout::Native, Dialect::Sqlite) => format!("CAST({column} AS BLOB)"),
            (Layout::Native, _) => column.to_owned(),
        }
    }

    /// The value column as compared with a bound value (bytes in this crate's layout, text in Django's).
    fn value_compared(self) -> String {
        let value = self.d.quote("value");
        match self.layout {
            Layout::Native => self.read(&value),
            Layout::Django => value,
        }
    }
}

/// Checks that `table` is a usable identifier on `d`; [`Error::Config`] says why not.
pub(crate) fn validate_table(d: Dialect, table: &str) -> Result<()> {
    let problem = if table.is_empty() {
        Some("is empty")
    } else if table.contains('\0') {
        Some("contains a NUL character")
    } else {
        match d {
            // SQLite reserves these for its own tables and indexes, whatever the case.
            Dialect::Sqlite if is_sqlite_reserved_name(table) => {
                Some("starts with `sqlite_`, which is reserved for SQLite's own tables")
            }
            Dialect::Sqlite => None,
            // PostgreSQL silently truncates identifiers to 63 bytes; the index is named
            // `<table>_expires`, and two truncated index names could collide.
            Dialect::Postgres if table.len() > 55 => {
                Some("is longer than 55 bytes (63 with the `_expires` index suffix)")
            }
            Dialect::MySql if table.chars().count() > 64 => Some("is longer than 64 characters"),
            Dialect::MySql if table.ends_with(' ') => Some("ends with a space"),
            Dialect::Postgres | Dialect::MySql => None,
        }
    };
    match problem {
        Some(problem) => Err(Error::Config(format!(
            "cache table name {table:?} {problem}, which {} does not accept",
            d.name()
        ))),
        None => Ok(()),
    }
}

/// What an upsert does on a key conflict: take the new value and expiry.
fn upsert_clause(shape: Shape) -> String {
    let (k, v, e) = shape.columns();
    match shape.d {
        Dialect::Sqlite | Dialect::Postgres => {
            format!("ON CONFLICT ({k}) DO UPDATE SET {v} = excluded.{v}, {e} = excluded.{e}")
        }
        // `VALUES(col)` works on MariaDB and MySQL (deprecated there in 8.0.20 for a row alias, which
        // MariaDB does not support).
        Dialect::MySql => format!("ON DUPLICATE KEY UPDATE {v} = VALUES({v}), {e} = VALUES({e})"),
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
    pub(crate) layout: Layout,
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
    /// [`validate_table`].
    pub(crate) fn new(dialect: Dialect, table: &str, layout: Layout) -> Self {
        let d = dialect;
        let shape = Shape { d, layout };
        let t = d.quote(table);
        let p = |n| d.placeholder(n);
        let at = |n| shape.instant(n);
        let (k, v, e) = shape.columns();
        let expires = shape.expires_of(&e);
        let live = format!("{expires} > {}", at(2));
        let value = shape.read(&v);
        let insert = format!(
            "INSERT INTO {t} ({k}, {v}, {e}) VALUES ({}, {}, {})",
            p(1),
            p(2),
            at(3)
        );
        let add = match d {
            Dialect::Sqlite | Dialect::Postgres => AddSql::Upsert(format!(
                "{insert} {} WHERE {} <= {}",
                upsert_clause(shape),
                shape.expires_of(&format!("{t}.{e}")),
                at(4)
            )),
            Dialect::MySql => AddSql::DeleteExpiredThenInsert {
                delete_expired: format!("DELETE FROM {t} WHERE {k} = ? AND {e} <= {}", at(2)),
                insert: insert.clone(),
            },
        };
        let index = d.quote(&format!("{table}_expires"));
        let create = match (layout, d) {
            (Layout::Native, Dialect::Sqlite) => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} ({k} BLOB NOT NULL PRIMARY KEY, \
                     {v} BLOB NOT NULL, {e} INTEGER NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} ({expires})"),
            ],
            (Layout::Native, Dialect::Postgres) => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} ({k} BYTEA NOT NULL PRIMARY KEY, \
                     {v} BYTEA NOT NULL, {e} BIGINT NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} ({e})"),
            ],
            // Index names are per table on MySQL, so a fixed one is fine; `CREATE INDEX IF NOT EXISTS` is
            // MariaDB-only, hence the index inside the CREATE TABLE.
            (Layout::Native, Dialect::MySql) => vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} ({k} VARBINARY(1020) NOT NULL PRIMARY KEY, \
                 {v} LONGBLOB NOT NULL, {e} BIGINT NOT NULL, \
                 KEY `cache_expires_ms` ({e})) ENGINE=InnoDB"
            )],
            // What Django's `createcachetable` makes, made only when missing.
            (Layout::Django, Dialect::Sqlite | Dialect::Postgres) => {
                let datetime = if d == Dialect::Sqlite {
                    "datetime"
                } else {
                    "timestamp with time zone"
                };
                vec![
                    format!(
                        "CREATE TABLE IF NOT EXISTS {t} ({k} varchar(255) NOT NULL PRIMARY KEY, \
                         {v} text NOT NULL, {e} {datetime} NOT NULL)"
                    ),
                    format!("CREATE INDEX IF NOT EXISTS {index} ON {t} ({e})"),
                ]
            }
            (Layout::Django, Dialect::MySql) => vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} ({k} varchar(255) NOT NULL PRIMARY KEY, \
                 {v} longtext NOT NULL, {e} datetime(6) NOT NULL, KEY {index} ({e}))"
            )],
        };
        let cull_soonest = match d {
            Dialect::Sqlite | Dialect::Postgres => format!(
                "DELETE FROM {t} WHERE {k} IN (SELECT {k} FROM {t} ORDER BY {expires}, {k} LIMIT {})",
                p(1)
            ),
            // MySQL rejects LIMIT in an IN subquery but has DELETE … ORDER BY … LIMIT.
            Dialect::MySql => format!("DELETE FROM {t} ORDER BY {e}, {k} LIMIT ?"),
        };
        Statements {
            dialect,
            layout,
            get: format!("SELECT {value} FROM {t} WHERE {k} = {} AND {live}", p(1)),
            has_key: format!("SELECT 1 FROM {t} WHERE {k} = {} AND {live}", p(1)),
            set: format!("{insert} {}", upsert_clause(shape)),
            add,
            touch: format!(
                "UPDATE {t} SET {e} = {} WHERE {k} = {} AND {expires} > {}",
                at(1),
                p(2),
                at(3)
            ),
            delete: format!("DELETE FROM {t} WHERE {k} = {} AND {live}", p(1)),
            lock_value: format!(
                "SELECT {value} FROM {t} WHERE {k} = {} AND {live}{}",
                p(1),
                d.for_update()
            ),
            update_value: format!("UPDATE {t} SET {v} = {} WHERE {k} = {}", p(1), p(2)),
            compare_and_set: format!(
                "UPDATE {t} SET {v} = {}, {e} = {} WHERE {k} = {} AND {expires} > {} \
                 AND {} = {}",
                p(1),
                at(2),
                p(3),
                at(4),
                shape.value_compared(),
                p(5)
            ),
            begin_write: d.begin_write(),
            clear: format!("DELETE FROM {t}"),
            count: format!("SELECT COUNT(*) FROM {t}"),
            cull_expired: format!("DELETE FROM {t} WHERE {expires} <= {}", at(1)),
            cull_soonest,
            create,
            drop: format!("DROP TABLE IF EXISTS {t}"),
            quoted_table: t,
        }
    }

    fn shape(&self) -> Shape {
        Shape {
            d: self.dialect,
            layout: self.layout,
        }
    }

    /// Binds: now, then `n` keys. Columns: key, value, of the live rows among the keys.
    pub(crate) fn get_many(&self, n: usize) -> String {
        let shape = self.shape();
        let (k, v, e) = shape.columns();
        format!(
            "SELECT {}, {} FROM {} WHERE {} > {} AND {k} IN ({})",
            shape.read(&k),
            shape.read(&v),
            self.quoted_table,
            shape.expires_of(&e),
            shape.instant(1),
            self.dialect.placeholder_list(2, n)
        )
    }

    /// Binds: `n` keys.
    pub(crate) fn delete_many(&self, n: usize) -> String {
        format!(
            "DELETE FROM {} WHERE {} IN ({})",
            self.quoted_table,
            self.dialect.quote("cache_key"),
            self.dialect.placeholder_list(1, n)
        )
    }

    /// Binds: key, value, expiry for each of `rows` rows. The keys must be distinct (PostgreSQL refuses to
    /// update one row twice in a statement).
    pub(crate) fn set_many(&self, rows: usize) -> String {
        let shape = self.shape();
        let d = self.dialect;
        let (k, v, e) = shape.columns();
        let mut sql = format!("INSERT INTO {} ({k}, {v}, {e}) VALUES ", self.quoted_table);
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            let first = row * 3 + 1;
            let _ = write!(
                sql,
                "({}, {}, {})",
                d.placeholder(first),
                d.placeholder(first + 1),
                shape.instant(first + 2)
            );
        }
        sql.push(' ');
        sql.push_str(&upsert_clause(shape));
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_their_placeholders() {
        let sql = Statements::new(Dialect::Postgres, "t", Layout::Native).set_many(2);
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
                matches!(validate_table(dialect, name), Err(Error::Config(_))),
                "{dialect:?} {name:?}"
            );
        }
        assert!(validate_table(Dialect::MySql, "a \"b\" `c`").is_ok());
        assert!(validate_table(Dialect::Sqlite, "my_sqlite_cache").is_ok());
        assert!(validate_table(Dialect::Sqlite, "sqlite").is_ok());
        assert!(validate_table(Dialect::Postgres, "sqlite_cache").is_ok());
        assert!(validate_table(Dialect::Postgres, &"x".repeat(55)).is_ok());
    }
}
