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
    /// Binds: key, data, expiry, user (or NULL).
    pub(super) insert: String,
    /// Binds: key. Column: the data, the row locked until the transaction ends (expired or not).
    pub(super) lock: String,
    /// Binds: data, expiry, user (or NULL), key.
    pub(super) update: String,
    /// SQLite only: the optimistic save's write, only if the row still holds the data that was read.
    /// Binds: data, expiry, user (or NULL), key, the data read.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(super) update_if_unchanged: String,
    /// SQLite only: [`update_if_unchanged`](Self::update_if_unchanged) for many rows in one statement.
    /// Binds: a JSON array of `[key, data, expiry, user or null, the data read]`, one key at most once.
    /// Column: the key of each row written.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(super) update_many_if_unchanged: String,
    /// Binds: key.
    pub(super) delete: String,
    /// PostgreSQL only: the whole save as one statement, merged by the database (`jsonb`: minus the
    /// removed keys, then `||` the set ones — a shallow, per-key merge). Binds: 1 when cleared else 0,
    /// the removed keys (JSON array), the set keys (JSON object), expiry, user (or NULL), key.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(super) update_merged: String,
    /// Binds: key. A row iff one exists, expired or not.
    pub(super) exists: String,
    /// Binds: now.
    pub(super) clear_expired: String,
    /// Binds: user, now. Columns: key, expiry of the user's live rows, soonest to expire first.
    pub(super) user_sessions: String,
    /// Binds: key, user. Deletes the row only if it is the user's.
    pub(super) revoke: String,
    /// Binds: user, a key to keep (`""` for none). Deletes the user's other rows.
    pub(super) revoke_all: String,
    /// Run in order; each is idempotent. The table as it is now, `user_id` included.
    pub(super) migrate: Vec<String>,
    /// Column: how many `user_id` columns the table has (0 for a table made before sessions by user).
    pub(super) has_user_column: String,
    /// Run when the table lacks `user_id`, before the rest of `migrate`.
    pub(super) add_user_column: String,
    /// Run in order after the column exists; each is idempotent.
    pub(super) migrate_indexes: Vec<String>,
}

impl Queries {
    /// The statements for `table` (a name [`valid_table_name`](super::builder) accepted) on `dialect`.
    pub(super) fn new(dialect: Dialect, table: &str) -> Queries {
        let d = dialect;
        let t = d.quote(table);
        let index = d.quote(&format!("{table}_expire_date"));
        let user_index = d.quote(&format!("{table}_user_id"));
        let p = |n: usize| d.placeholder(n);
        // `table` is an identifier (letters, digits, `_`): safe inside a string literal.
        let (migrate, has_user_column, add_user_column, migrate_indexes) = match d {
            Dialect::Postgres => (
                vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} (session_key VARCHAR(40) PRIMARY KEY, \
                     session_data TEXT NOT NULL, expire_date BIGINT NOT NULL, user_id VARCHAR(150))"
                )],
                format!(
                    "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = \
                     current_schema() AND table_name = '{table}' AND column_name = 'user_id'"
                ),
                format!("ALTER TABLE {t} ADD COLUMN user_id VARCHAR(150)"),
                vec![
                    format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expire_date)"),
                    format!("CREATE INDEX IF NOT EXISTS {user_index} ON {t} (user_id)"),
                ],
            ),
            Dialect::MySql => (
                vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} (session_key VARCHAR(40) CHARACTER SET ascii \
                     COLLATE ascii_bin PRIMARY KEY, session_data LONGTEXT NOT NULL, expire_date BIGINT \
                     NOT NULL, user_id VARCHAR(150) NULL, INDEX {index} (expire_date), \
                     INDEX {user_index} (user_id)) DEFAULT CHARSET=utf8mb4"
                )],
                format!(
                    "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
                     AND table_name = '{table}' AND column_name = 'user_id'"
                ),
                // One statement with its index: MySQL has no `CREATE INDEX IF NOT EXISTS`.
                format!(
                    "ALTER TABLE {t} ADD COLUMN user_id VARCHAR(150) NULL, ADD INDEX {user_index} (user_id)"
                ),
                Vec::new(),
            ),
            // SQLite, and any database added later: the plainest SQL.
            _ => (
                vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} (session_key TEXT PRIMARY KEY NOT NULL, \
                     session_data TEXT NOT NULL, expire_date INTEGER NOT NULL, user_id TEXT) WITHOUT ROWID"
                )],
                format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = 'user_id'"),
                format!("ALTER TABLE {t} ADD COLUMN user_id TEXT"),
                vec![
                    format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expire_date)"),
                    format!("CREATE INDEX IF NOT EXISTS {user_index} ON {t} (user_id)"),
                ],
            ),
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
                "INSERT INTO {t} (session_key, session_data, expire_date, user_id) VALUES ({}, {}, {}, {})",
                p(1),
                p(2),
                p(3),
                p(4)
            ),
            lock: format!(
                "SELECT session_data FROM {t} WHERE session_key = {}{}",
                p(1),
                d.for_update()
            ),
            update: format!(
                "UPDATE {t} SET session_data = {}, expire_date = {}, user_id = {} WHERE session_key = {}",
                p(1),
                p(2),
                p(3),
                p(4)
            ),
            update_if_unchanged: format!(
                "UPDATE {t} SET session_data = {}, expire_date = {}, user_id = {} WHERE session_key = {} \
                 AND session_data = {}",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5)
            ),
            update_many_if_unchanged: format!(
                "UPDATE {t} SET session_data = json_extract(w.value, '$[1]'), \
                 expire_date = json_extract(w.value, '$[2]'), user_id = json_extract(w.value, '$[3]') \
                 FROM json_each({}) AS w WHERE {t}.session_key = json_extract(w.value, '$[0]') \
                 AND {t}.session_data = json_extract(w.value, '$[4]') RETURNING {t}.session_key",
                p(1)
            ),
            update_merged: format!(
                "UPDATE {t} SET session_data = (((CASE WHEN {} = 1 THEN '{{}}'::jsonb \
                 ELSE session_data::jsonb END) - ARRAY(SELECT jsonb_array_elements_text({}::jsonb))) \
                 || {}::jsonb)::text, expire_date = {}, user_id = {} WHERE session_key = {}",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6)
            ),
            user_sessions: format!(
                "SELECT session_key, expire_date FROM {t} WHERE user_id = {} AND expire_date > {} \
                 ORDER BY expire_date",
                p(1),
                p(2)
            ),
            revoke: format!(
                "DELETE FROM {t} WHERE session_key = {} AND user_id = {}",
                p(1),
                p(2)
            ),
            revoke_all: format!(
                "DELETE FROM {t} WHERE user_id = {} AND session_key <> {}",
                p(1),
                p(2)
            ),
            delete: format!("DELETE FROM {t} WHERE session_key = {}", p(1)),
            exists: format!("SELECT 1 FROM {t} WHERE session_key = {}", p(1)),
            clear_expired: format!("DELETE FROM {t} WHERE expire_date < {}", p(1)),
            migrate,
            has_user_column,
            add_user_column,
            migrate_indexes,
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
