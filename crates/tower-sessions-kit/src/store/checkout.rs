//! [`Checkout`]: a pooled SQL connection that is closed, not returned to the pool, when its operation was
//! cut short.
//!
//! A statement abandoned at its deadline (or because its request went away) can leave a PostgreSQL or MySQL
//! connection mid-protocol, with a reply still to come from a server that may have stopped answering.
//! Returned to the pool, sqlx would test it with a ping that waits for that server without a limit, holding
//! a pool slot; a later operation could also inherit it. Closed instead, it frees its slot (sqlx closes it in
//! the background within 5 s), the server rolls back whatever it had not committed, and the pool opens a
//! fresh connection when one is needed. SQLite connections are always returned: a statement runs to its end
//! on sqlx's worker thread, whoever waits for it.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::Database;

/// A connection taken from the pool for one operation. See the module docs.
pub(super) struct Checkout<DB: Database> {
    conn: PoolConnection<DB>,
    finished: bool,
}

impl<DB: Database> Checkout<DB> {
    /// A connection from `pool` (bounded by the pool's acquire timeout, and by the caller's deadline).
    pub(super) async fn acquire(pool: &sqlx::Pool<DB>) -> Result<Self, sqlx::Error> {
        Ok(Checkout {
            conn: pool.acquire().await?,
            finished: false,
        })
    }

    /// The operation ran to its end (successfully or not): the connection may go back to the pool.
    pub(super) fn finish(mut self) {
        self.finished = true;
    }
}

impl<DB: Database> Deref for Checkout<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.conn
    }
}

impl<DB: Database> DerefMut for Checkout<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }
}

impl<DB: Database> Drop for Checkout<DB> {
    fn drop(&mut self) {
        if !self.finished && DB::NAME != "SQLite" {
            self.conn.close_on_drop();
        }
    }
}
