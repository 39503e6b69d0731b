//! The SQL text of the session store's statements, per database: built once per store, with the table
//! name quoted. Parameters are bound in textual order (MySQL's placeholders are positional).

use cache_core::sql::Dialect;

#[derive(Debug)]
pub(super) struct Queries {
    /// Binds: key, now. Columns: data, expiry of the live row.
    pub(super) load: String,
    /// SQLite only. Binds: a JSON array of keys, now. Columns: key, data, expiry of the live rows among
    /// the keys (coalesced loads).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(super) load_many: String,
    /// Binds: key, data, expiry.
    pub(super) insert: String,
    /// Binds: key. Column: the data, the row locked until the transaction ends (expired or not).
    pub(super) lock: String,
    /// Binds: data, expiry, key.
    pub(super) update: String,
    /// SQLite only: the optimistic save's write, only if the row still holds the data that was read.
    /// Binds: data, expiry, key, the data read.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(super) update_if_unchanged: String,
    /// Binds: key.
    pub(super) delete: String,
    /// Binds: key. A row iff one exists, expired or not.
    pub(super) exists: String,
    /// Binds: now.
    pub(super) clear_expired: String,
    /// Run in order; each is idempotent.
    pub(super) migrate: Vec<String>,
}

impl Queries {
    /// The statements for `table` (a name [`valid_table_name`](super::builder) accepted) on `dialect`.
    pub(super) fn new(dialect: Dialect, table: &str) -> Queries {
        let d = dialect;
        let t = d.quote(table);
        let index = d.quote(&format!("{table}_expire_date"));
        let p = |n: usize| d.placeholder(n);
        let migrate = match d {
            Dialect::Postgres => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (session_key VARCHAR(40) PRIMARY KEY, \
                     session_data TEXT NOT NULL, expire_date BIGINT NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expire_date)"),
            ],
            Dialect::MySql => vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (session_key VARCHAR(40) CHARACTER SET ascii \
                 COLLATE ascii_bin PRIMARY KEY, session_data LONGTEXT NOT NULL, expire_date BIGINT \
                 NOT NULL, INDEX {index} (expire_date)) DEFAULT CHARSET=utf8mb4"
            )],
            // SQLite, and any database added later: the plainest SQL.
            _ => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (session_key TEXT PRIMARY KEY NOT NULL, \
                     session_data TEXT NOT NULL, expire_date INTEGER NOT NULL) WITHOUT ROWID"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expire_date)"),
            ],
        };
        Queries {
            load: format!(
                "SELECT session_data, expire_date FROM {t} WHERE session_key = {} AND expire_date > {}",
                p(1),
                p(2)
            ),
            load_many: format!(
                "SELECT session_key, session_data, expire_date FROM {t} WHERE session_key IN \
                 (SELECT value FROM json_each({})) AND expire_date > {}",
                p(1),
                p(2)
            ),
            insert: format!(
                "INSERT INTO {t} (session_key, session_data, expire_date) VALUES ({}, {}, {})",
                p(1),
                p(2),
                p(3)
            ),
            lock: format!(
                "SELECT session_data FROM {t} WHERE session_key = {}{}",
                p(1),
                d.for_update()
            ),
            update: format!(
                "UPDATE {t} SET session_data = {}, expire_date = {} WHERE session_key = {}",
                p(1),
                p(2),
                p(3)
            ),
            update_if_unchanged: format!(
                "UPDATE {t} SET session_data = {}, expire_date = {} WHERE session_key = {} \
                 AND session_data = {}",
                p(1),
                p(2),
                p(3),
                p(4)
            ),
            delete: format!("DELETE FROM {t} WHERE session_key = {}", p(1)),
            exists: format!("SELECT 1 FROM {t} WHERE session_key = {}", p(1)),
            clear_expired: format!("DELETE FROM {t} WHERE expire_date < {}", p(1)),
            migrate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_its_placeholders() {
        let sql = Queries::new(Dialect::Postgres, "t");
        assert!(sql.update.contains("$3"), "{}", sql.update);
        assert!(sql.lock.ends_with("FOR UPDATE"));
        let sql = Queries::new(Dialect::Sqlite, "t");
        assert!(!sql.lock.contains("FOR UPDATE"));
    }
}
