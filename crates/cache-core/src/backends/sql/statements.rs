//! The SQL text of every statement of the database cache, per database. Nothing here talks to a database:
//! the statements are built once per backend (with the table name quoted) and the logic in `ops.rs` runs
//! them the same way on all three.
//!
//! Bind order is the textual order on every dialect (MySQL's `?` placeholders are positional), so a
//! statement's parameters are documented next to it and the caller binds them in that order.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::sql::{is_sqlite_reserved_name, Dialect};

/// The expiry of `column` as an integer. SQLite columns are dynamically typed, so a row written by hand
/// may hold text there: `CAST` turns anything into an integer (garbage becomes 0, i.e. expired), which makes
/// such a row a miss rather than a live entry. The expiry index is on the same expression.
fn expires_of(d: Dialect, column: &str) -> String {
    match d {
        Dialect::Sqlite => format!("CAST({column} AS INTEGER)"),
        Dialect::Postgres | Dialect::MySql => column.to_owned(),
    }
}

/// The value column as bytes. On SQLite a hand-written row may hold text or a number; `CAST` reads any of
/// them as bytes (NULL stays NULL and is reported as a corrupted row).
fn value_expr(d: Dialect) -> String {
    let value = d.quote("value");
    match d {
        Dialect::Sqlite => format!("CAST({value} AS BLOB)"),
        Dialect::Postgres | Dialect::MySql => value,
    }
}

/// The quoted column names: key, value, expiry.
fn columns(d: Dialect) -> (String, String, String) {
    (
        d.quote("cache_key"),
        d.quote("value"),
        d.quote("expires_ms"),
    )
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
fn upsert_clause(d: Dialect) -> String {
    let (k, v, e) = columns(d);
    match d {
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
    pub(crate) fn new(dialect: Dialect, table: &str) -> Self {
        let d = dialect;
        let t = d.quote(table);
        let p = |n| d.placeholder(n);
        let (k, v, e) = columns(d);
        let expires = expires_of(d, &e);
        let live = format!("{expires} > {}", p(2));
        let value = value_expr(d);
        let insert = format!(
            "INSERT INTO {t} ({k}, {v}, {e}) VALUES ({}, {}, {})",
            p(1),
            p(2),
            p(3)
        );
        let add = match d {
            Dialect::Sqlite | Dialect::Postgres => AddSql::Upsert(format!(
                "{insert} {} WHERE {} <= {}",
                upsert_clause(d),
                expires_of(d, &format!("{t}.{e}")),
                p(4)
            )),
            Dialect::MySql => AddSql::DeleteExpiredThenInsert {
                delete_expired: format!("DELETE FROM {t} WHERE {k} = ? AND {e} <= ?"),
                insert: insert.clone(),
            },
        };
        let index = d.quote(&format!("{table}_expires"));
        let create = match d {
            Dialect::Sqlite => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} ({k} BLOB NOT NULL PRIMARY KEY, \
                     {v} BLOB NOT NULL, {e} INTEGER NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} ({expires})"),
            ],
            Dialect::Postgres => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} ({k} BYTEA NOT NULL PRIMARY KEY, \
                     {v} BYTEA NOT NULL, {e} BIGINT NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} ({e})"),
            ],
            // Index names are per table on MySQL, so a fixed one is fine; `CREATE INDEX IF NOT EXISTS` is
            // MariaDB-only, hence the index inside the CREATE TABLE.
            Dialect::MySql => vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} ({k} VARBINARY(1020) NOT NULL PRIMARY KEY, \
                 {v} LONGBLOB NOT NULL, {e} BIGINT NOT NULL, \
                 KEY `cache_expires_ms` ({e})) ENGINE=InnoDB"
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
            get: format!("SELECT {value} FROM {t} WHERE {k} = {} AND {live}", p(1)),
            has_key: format!("SELECT 1 FROM {t} WHERE {k} = {} AND {live}", p(1)),
            set: format!("{insert} {}", upsert_clause(d)),
            add,
            touch: format!(
                "UPDATE {t} SET {e} = {} WHERE {k} = {} AND {expires} > {}",
                p(1),
                p(2),
                p(3)
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
                 AND {value} = {}",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5)
            ),
            begin_write: d.begin_write(),
            clear: format!("DELETE FROM {t}"),
            count: format!("SELECT COUNT(*) FROM {t}"),
            cull_expired: format!("DELETE FROM {t} WHERE {expires} <= {}", p(1)),
            cull_soonest,
            create,
            drop: format!("DROP TABLE IF EXISTS {t}"),
            quoted_table: t,
        }
    }

    /// Binds: now, then `n` keys. Columns: key, value, of the live rows among the keys.
    pub(crate) fn get_many(&self, n: usize) -> String {
        let d = self.dialect;
        let (k, _, e) = columns(d);
        format!(
            "SELECT {k}, {} FROM {} WHERE {} > {} AND {k} IN ({})",
            value_expr(d),
            self.quoted_table,
            expires_of(d, &e),
            d.placeholder(1),
            d.placeholder_list(2, n)
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
        let d = self.dialect;
        let (k, v, e) = columns(d);
        let mut sql = format!("INSERT INTO {} ({k}, {v}, {e}) VALUES ", self.quoted_table);
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "({})", d.placeholder_list(row * 3 + 1, 3));
        }
        sql.push(' ');
        sql.push_str(&upsert_clause(d));
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_their_placeholders() {
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
