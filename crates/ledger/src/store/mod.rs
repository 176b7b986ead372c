//! All SQL lives under this module, one file per table group; handlers call
//! these functions and never build SQL themselves.

pub mod api_keys;
pub mod executions;
pub mod models;
pub mod prompt_labels;
pub mod prompt_versions;
pub mod prompts;
pub mod retention;
pub mod rollups;
pub mod spans;
pub mod traces;

use crate::ports::{Db, DbError, Dialect};

/// Runs `body` inside a transaction: committed when it returns `Ok`, rolled
/// back otherwise, so no error leaves a partial write behind.
///
/// SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so concurrent
/// writers queue instead of failing when they upgrade a read lock.
pub async fn transaction<D: Db, T, E: From<DbError>>(db: &D, body: impl AsyncFnOnce() -> Result<T, E>) -> Result<T, E> {
    let begin = match db.dialect() {
        Dialect::Postgres => "BEGIN",
        Dialect::Sqlite => "BEGIN IMMEDIATE",
    };
    db.execute(begin, &[]).await?;
    match body().await {
        Ok(value) => match db.execute("COMMIT", &[]).await {
            Ok(_) => Ok(value),
            Err(e) => {
                rollback(db).await;
                Err(e.into())
            }
        },
        Err(e) => {
            rollback(db).await;
            Err(e)
        }
    }
}

async fn rollback<D: Db>(db: &D) {
    if let Err(e) = db.execute("ROLLBACK", &[]).await {
        eprintln!("rollback failed: {e}");
    }
}
