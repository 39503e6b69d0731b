//! The SQL text of the session store's statements, per database and table layout: built once per store,
//! every identifier quoted. Parameters are bound in textual order (MySQL's placeholders are positional).
//!
//! Expiry instants are bound and read as Unix milliseconds whatever the layout: in Django's table, where
//! `expire_date` is a date-time column, the statements convert on the database side ([`Layout`]).

use cache_core::sql::Dialect;

/// Which table the store keeps sessions in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// This crate's table: `expire_date` in Unix milliseconds and an indexed `user_id` column (sessions
    /// by user).
    Native,
    /// Django's `django_session` table as Django's migrations make it: `expire_date` a date-time in UTC,
    /// no `user_id` column.
    Django,
}

#[derive(Debug)]
pub(super) struct Queries {
    /// Whether the row statements bind a user (the table has `user_id`).
    pub(super) has_user: bool,
    /// Binds: key, now. Columns: data, expiry of the live row.
    pub(super) load: String,
    /// SQLite only. Binds: a JSON array of keys, now. Columns: key, data, expiry of the live rows among
    /// the keys (coalesced loads).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(super) load_many: String,
    /// Binds: key, data, expiry, user (or NULL; [`has_user`](Self::has_user) only).
    pub(super) insert: String,
    /// Binds: key. Column: the data, the row locked until the transaction ends (expired or not).
    pub(super) lock: String,
    /// Binds: data, expiry, user (or NULL; [`has_user`](Self::has_user) only), key.
    pub(super) update: String,
    /// SQLite only: the optimistic save's write, only if the row still holds the data that was read.
    /// Binds: data, expiry, user (or NULL; [`has_user`](Self::has_user) only), key, the data read.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(super) update_if_unchanged: String,
    /// SQLite only: [`update_if_unchanged`](Self::update_if_unchanged) for many rows in one statement.
    /// Binds: a JSON array of `[key, data, expiry, user or null, the data read]`, one key at most once
    /// (the user is ignored without `user_id`). Column: the key of each row written.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(super) update_many_if_unchanged: String,
    /// Binds: key.
    pub(super) delete: String,
    /// PostgreSQL and this crate's layout only: the whole save as one statement, merged by the database
    /// (`jsonb`: minus the removed keys, then `||` the set ones — a shallow, per-key merge). Binds: 1 when
    /// cleared else 0, the removed keys (JSON array), the set keys (JSON object), expiry, user (or NULL),
    /// key.
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
    /// `None` for Django's table, which has none.
    pub(super) has_user_column: Option<String>,
    /// Run when the table lacks `user_id`, before the rest of `migrate`.
    pub(super) add_user_column: String,
    /// Run in order after the column exists; each is idempotent.
    pub(super) migrate_indexes: Vec<String>,
}

/// An expiry bound as Unix milliseconds (`param`), as the `expire_date` column holds it.
fn expiry_in(d: Dialect, layout: Layout, param: &str) -> String {
    match layout {
        Layout::Native => param.to_owned(),
        Layout::Django => d.django_datetime(param),
    }
}

/// The `expire_date` column (`column`, already quoted) read as Unix milliseconds.
fn expiry_out(d: Dialect, layout: Layout, column: &str) -> String {
    match layout {
        Layout::Native => column.to_owned(),
        Layout::Django => d.django_datetime_millis(column),
    }
}

/// The statements that create a table (and its indexes) in `layout`, and the ones adding `user_id` to an
/// older table of this crate's layout.
struct Schema {
    migrate: Vec<String>,
    has_user_column: Option<String>,
    add_user_column: String,
    migrate_indexes: Vec<String>,
}

/// The quoted column names: key, data, expiry, user.
fn columns(d: Dialect) -> (String, String, String, String) {
    (
        d.quote("session_key"),
        d.quote("session_data"),
        d.quote("expire_date"),
        d.quote("user_id"),
    )
}

fn schema(d: Dialect, layout: Layout, table: &str) -> Schema {
    let t = d.quote(table);
    let (key, data, expire, user) = columns(d);
    let index = d.quote(&format!("{table}_expire_date"));
    let user_index = d.quote(&format!("{table}_user_id"));
    if layout == Layout::Django {
        // The columns Django's `sessions` migration makes; Django's own `migrate` also adds its index.
        // Made here only when missing (tests, a fresh database), never altered.
        let create = match d {
            Dialect::Postgres => format!(
                "CREATE TABLE IF NOT EXISTS {t} ({key} VARCHAR(40) NOT NULL PRIMARY KEY, {data} TEXT \
                 NOT NULL, {expire} TIMESTAMP WITH TIME ZONE NOT NULL)"
            ),
            Dialect::MySql => format!(
                "CREATE TABLE IF NOT EXISTS {t} ({key} VARCHAR(40) NOT NULL PRIMARY KEY, {data} \
                 LONGTEXT NOT NULL, {expire} DATETIME(6) NOT NULL, INDEX {index} ({expire}))"
            ),
            _ => format!(
                "CREATE TABLE IF NOT EXISTS {t} ({key} VARCHAR(40) NOT NULL PRIMARY KEY, {data} TEXT \
                 NOT NULL, {expire} DATETIME NOT NULL)"
            ),
        };
        let indexes = match d {
            Dialect::MySql => Vec::new(),
            _ => vec![format!(
                "CREATE INDEX IF NOT EXISTS {index} ON {t} ({expire})"
            )],
        };
        return Schema {
            migrate: vec![create],
            has_user_column: None,
            add_user_column: String::new(),
            migrate_indexes: indexes,
        };
    }
    // `table` is an identifier (letters, digits, `_`): safe inside a string literal.
    match d {
        Dialect::Postgres => Schema {
            migrate: vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} ({key} VARCHAR(40) PRIMARY KEY, {data} TEXT NOT NULL, \
                 {expire} BIGINT NOT NULL, {user} VARCHAR(150))"
            )],
            has_user_column: Some(format!(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = \
                 current_schema() AND table_name = '{table}' AND column_name = 'user_id'"
            )),
            add_user_column: format!("ALTER TABLE {t} ADD COLUMN {user} VARCHAR(150)"),
            migrate_indexes: vec![
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} ({expire})"),
                format!("CREATE INDEX IF NOT EXISTS {user_index} ON {t} ({user})"),
            ],
        },
        Dialect::MySql => Schema {
            migrate: vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} ({key} VARCHAR(40) CHARACTER SET ascii COLLATE \
                 ascii_bin PRIMARY KEY, {data} LONGTEXT NOT NULL, {expire} BIGINT NOT NULL, {user} \
                 VARCHAR(150) NULL, INDEX {index} ({expire}), INDEX {user_index} ({user})) DEFAULT \
                 CHARSET=utf8mb4"
            )],
            has_user_column: Some(format!(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name = '{table}' AND column_name = 'user_id'"
            )),
            // One statement with its index: MySQL has no `CREATE INDEX IF NOT EXISTS`.
            add_user_column: format!(
                "ALTER TABLE {t} ADD COLUMN {user} VARCHAR(150) NULL, ADD INDEX {user_index} ({user})"
            ),
            migrate_indexes: Vec::new(),
        },
        // SQLite, and any database added later: the plainest SQL.
        _ => Schema {
            migrate: vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} ({key} TEXT PRIMARY KEY NOT NULL, {data} TEXT NOT NULL, \
                 {expire} INTEGER NOT NULL, {user} TEXT) WITHOUT ROWID"
            )],
            has_user_column: Some(format!(
                "SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = 'user_id'"
            )),
            add_user_column: format!("ALTER TABLE {t} ADD COLUMN {user} TEXT"),
            migrate_indexes: vec![
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} ({expire})"),
                format!("CREATE INDEX IF NOT EXISTS {user_index} ON {t} ({user})"),
            ],
        },
    }
}

impl Queries {
    /// The statements for `table` (a name [`valid_table_name`](super::builder) accepted) in `layout` on
    /// `dialect`.
    pub(super) fn new(dialect: Dialect, table: &str, layout: Layout) -> Queries {
        let d = dialect;
        let t = d.quote(table);
        let (key, data, expire, user) = columns(d);
        let has_user = layout == Layout::Native;
        // Parameters are numbered in the order the binds come (PostgreSQL and SQLite number them;
        // MySQL's are positional, so the order is what matters).
        let p = |n: usize| d.placeholder(n);
        let expires_out = expiry_out(d, layout, &expire);
        let load = format!(
            "SELECT {data}, {expires_out} FROM {t} WHERE {key} = {} AND {expire} > {}",
            p(1),
            expiry_in(d, layout, &p(2))
        );
        let load_many = format!(
            "SELECT {key}, {data}, {expires_out} FROM {t} WHERE {key} IN (SELECT value FROM \
             json_each({})) AND {expire} > {}",
            p(1),
            expiry_in(d, layout, &p(2))
        );
        // The `SET` list of a row write, parameters 1 to 3: data, expiry and (with `user_id`) user.
        let mut set_row = format!(
            "{data} = {}, {expire} = {}",
            p(1),
            expiry_in(d, layout, &p(2))
        );
        if has_user {
            set_row.push_str(&format!(", {user} = {}", p(3)));
        }
        let row_binds = if has_user { 3 } else { 2 };
        let insert = if has_user {
            format!(
                "INSERT INTO {t} ({key}, {data}, {expire}, {user}) VALUES ({}, {}, {}, {})",
                p(1),
                p(2),
                expiry_in(d, layout, &p(3)),
                p(4)
            )
        } else {
            format!(
                "INSERT INTO {t} ({key}, {data}, {expire}) VALUES ({}, {}, {})",
                p(1),
                p(2),
                expiry_in(d, layout, &p(3))
            )
        };
        let update = format!(
            "UPDATE {t} SET {} WHERE {key} = {}",
            set_row,
            p(row_binds + 1)
        );
        let update_if_unchanged = format!(
            "UPDATE {t} SET {} WHERE {key} = {} AND {data} = {}",
            set_row,
            p(row_binds + 1),
            p(row_binds + 2)
        );
        let field = |i: usize| format!("json_extract(w.value, '$[{i}]')");
        let mut set_many = format!(
            "{data} = {}, {expire} = {}",
            field(1),
            expiry_in(d, layout, &field(2))
        );
        if has_user {
            set_many.push_str(&format!(", {user} = {}", field(3)));
        }
        let update_many_if_unchanged = format!(
            "UPDATE {t} SET {set_many} FROM json_each({}) AS w WHERE {t}.{key} = {} AND {t}.{data} = {} \
             RETURNING {t}.{key}",
            p(1),
            field(0),
            field(4)
        );
        let Schema {
            migrate,
            has_user_column,
            add_user_column,
            migrate_indexes,
        } = schema(d, layout, table);
        Queries {
            has_user,
            load,
            load_many,
            insert,
            lock: format!(
                "SELECT {data} FROM {t} WHERE {key} = {}{}",
                p(1),
                d.for_update()
            ),
            update,
            update_if_unchanged,
            update_many_if_unchanged,
            update_merged: format!(
                "UPDATE {t} SET {data} = (((CASE WHEN {} = 1 THEN '{{}}'::jsonb \
                 ELSE {data}::jsonb END) - ARRAY(SELECT jsonb_array_elements_text({}::jsonb))) \
                 || {}::jsonb)::text, {expire} = {}, {user} = {} WHERE {key} = {}",
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6)
            ),
            user_sessions: format!(
                "SELECT {key}, {expire} FROM {t} WHERE {user} = {} AND {expire} > {} \
                 ORDER BY {expire}",
                p(1),
                p(2)
            ),
            revoke: format!(
                "DELETE FROM {t} WHERE {key} = {} AND {user} = {}",
                p(1),
                p(2)
            ),
            revoke_all: format!(
                "DELETE FROM {t} WHERE {user} = {} AND {key} <> {}",
                p(1),
                p(2)
            ),
            delete: format!("DELETE FROM {t} WHERE {key} = {}", p(1)),
            exists: format!("SELECT 1 FROM {t} WHERE {key} = {}", p(1)),
            clear_expired: format!(
                "DELETE FROM {t} WHERE {expire} < {}",
                expiry_in(d, layout, &p(1))
            ),
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
        let sql = Queries::new(Dialect::Postgres, "t", Layout::Native);
        assert!(sql.update.contains("$3"), "{}", sql.update);
        assert!(sql.lock.ends_with("FOR UPDATE"));
        let sql = Queries::new(Dialect::Sqlite, "t", Layout::Native);
        assert!(!sql.lock.contains("FOR UPDATE"));
    }

    #[test]
    fn every_identifier_is_quoted() {
        let sql = Queries::new(Dialect::MySql, "t", Layout::Native);
        assert_eq!(
            sql.update,
            "UPDATE `t` SET `session_data` = ?, `expire_date` = ?, `user_id` = ? WHERE `session_key` = ?"
        );
        let sql = Queries::new(Dialect::Postgres, "t", Layout::Native);
        assert_eq!(
            sql.load,
            "SELECT \"session_data\", \"expire_date\" FROM \"t\" WHERE \"session_key\" = $1 AND \
             \"expire_date\" > $2"
        );
    }

    /// Django's table has no `user_id`: the row statements bind one value fewer, in the same order.
    #[test]
    fn djangos_table_has_no_user_column_and_converts_expiry() {
        let sql = Queries::new(Dialect::Postgres, "django_session", Layout::Django);
        assert!(!sql.has_user);
        assert_eq!(
            sql.update,
            "UPDATE \"django_session\" SET \"session_data\" = $1, \"expire_date\" = \
             to_timestamp(CAST($2 AS DOUBLE PRECISION) / 1000) WHERE \"session_key\" = $3"
        );
        assert!(sql.has_user_column.is_none());
        assert!(!sql.update_many_if_unchanged.contains("user_id"));
        let sql = Queries::new(Dialect::Sqlite, "django_session", Layout::Django);
        assert!(sql.load.contains("julianday"), "{}", sql.load);
    }
}
