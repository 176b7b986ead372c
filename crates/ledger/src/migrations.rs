//! Schema migrations: embedded SQL files applied in order, each in its own
//! transaction, recorded with a checksum in `schema_migrations`.

use sha2::{Digest, Sha256};

use crate::ports::{Db, DbError, Dialect};

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

macro_rules! migration {
    ($dialect:literal, $version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../migrations/", $dialect, "/", stringify!($version), "_", $name, ".sql")),
        }
    };
}

// The numbers are written as in the file names, which `stringify!` builds.
#[rustfmt::skip]
#[allow(clippy::zero_prefixed_literal)]
const POSTGRES: &[Migration] = &[
    migration!("postgres", 0001, "init"),
    migration!("postgres", 0002, "seed_model_prices"),
    migration!("postgres", 0003, "prompt_name_order"),
    migration!("postgres", 0005, "execution_prompt_kind"),
    migration!("postgres", 0006, "trace_root"),
    migration!("postgres", 0007, "key_limits"),
];

#[rustfmt::skip]
#[allow(clippy::zero_prefixed_literal)]
const SQLITE: &[Migration] = &[
    migration!("sqlite", 0001, "init"),
    migration!("sqlite", 0002, "seed_model_prices"),
    migration!("sqlite", 0003, "prompt_name_order"),
    migration!("sqlite", 0005, "execution_prompt_kind"),
    migration!("sqlite", 0006, "trace_root"),
    migration!("sqlite", 0007, "key_limits"),
];

pub fn for_dialect(dialect: Dialect) -> &'static [Migration] {
    match dialect {
        Dialect::Postgres => POSTGRES,
        Dialect::Sqlite => SQLITE,
    }
}

/// The schema version this build expects.
pub fn expected_version(dialect: Dialect) -> i64 {
    for_dialect(dialect).last().map_or(0, |m| m.version)
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "migration {version}_{name} was changed after it was applied \
         (recorded checksum {recorded}, file checksum {current}); restore the file and add a new migration instead"
    )]
    Edited { version: i64, name: String, recorded: String, current: String },
    #[error("migration {version}_{name} failed: {source}")]
    Failed { version: i64, name: String, source: DbError },
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub applied: Vec<i64>,
    pub current: i64,
    /// Versions recorded in the database that this build does not know
    /// (the database was migrated by a newer release).
    pub unknown: Vec<i64>,
}

/// Arbitrary but fixed key for `pg_advisory_lock`, so concurrent starts serialise.
const ADVISORY_LOCK_KEY: i64 = 0x5052_4f4d_5054; // "PROMPT"

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Applies every pending migration.
///
/// # Errors
/// Refuses to run when an applied file was edited; stops at the first
/// failing migration, leaving it unapplied (its transaction is rolled back).
pub async fn run<D: Db>(db: &D, now_ms: i64) -> Result<Report, MigrationError> {
    match db.dialect() {
        Dialect::Postgres => {
            db.query("SELECT pg_advisory_lock($1)", &[ADVISORY_LOCK_KEY.into()]).await?;
            let result = run_locked(db, now_ms).await;
            let unlock = db.query("SELECT pg_advisory_unlock($1)", &[ADVISORY_LOCK_KEY.into()]).await;
            let report = result?;
            unlock?;
            Ok(report)
        }
        // SQLite has one writer: an IMMEDIATE transaction per migration is the lock,
        // and the applied set is re-read inside it.
        Dialect::Sqlite => run_locked(db, now_ms).await,
    }
}

async fn run_locked<D: Db>(db: &D, now_ms: i64) -> Result<Report, MigrationError> {
    db.execute(CREATE_TABLE, &[]).await?;
    let known = for_dialect(db.dialect());
    let applied = applied(db).await?;
    verify_checksums(known, &applied)?;
    let mut report = Report {
        unknown: applied.iter().filter(|(v, _)| !known.iter().any(|m| m.version == *v)).map(|(v, _)| *v).collect(),
        ..Report::default()
    };
    for migration in known {
        if applied.iter().any(|(v, _)| *v == migration.version) {
            continue;
        }
        if apply(db, migration, now_ms).await? {
            report.applied.push(migration.version);
        }
    }
    report.current = current_version(db).await?;
    Ok(report)
}

async fn applied<D: Db>(db: &D) -> Result<Vec<(i64, String)>, DbError> {
    let rows = db.query("SELECT version, checksum FROM schema_migrations ORDER BY version", &[]).await?;
    rows.iter().map(|r| Ok((r.i64("version")?, r.str("checksum")?))).collect()
}

fn verify_checksums(known: &[Migration], applied: &[(i64, String)]) -> Result<(), MigrationError> {
    for (version, recorded) in applied {
        if let Some(m) = known.iter().find(|m| m.version == *version) {
            let current = m.checksum();
            if &current != recorded {
                return Err(MigrationError::Edited {
                    version: *version,
                    name: m.name.to_owned(),
                    recorded: recorded.clone(),
                    current,
                });
            }
        }
    }
    Ok(())
}

/// Applies one migration in a transaction; returns false if another process
/// applied it first.
async fn apply<D: Db>(db: &D, m: &Migration, now_ms: i64) -> Result<bool, MigrationError> {
    let failed = |source| MigrationError::Failed { version: m.version, name: m.name.to_owned(), source };
    crate::store::transaction(db, async || {
        let already =
            db.query("SELECT 1 AS one FROM schema_migrations WHERE version = $1", &[m.version.into()]).await?;
        if !already.is_empty() {
            return Ok(false);
        }
        for statement in split_statements(m.sql) {
            db.execute(&statement, &[]).await?;
        }
        db.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            &[m.version.into(), m.name.into(), m.checksum().into(), now_ms.into()],
        )
        .await?;
        Ok(true)
    })
    .await
    .map_err(failed)
}

/// Highest applied version, 0 for an empty database. One query: the
/// health check calls this on every probe.
pub async fn current_version<D: Db>(db: &D) -> Result<i64, DbError> {
    match db.query("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) AS v FROM schema_migrations", &[]).await {
        Ok(rows) => rows.first().map_or(Ok(0), |r| r.i64("v")),
        Err(DbError::Query(m))
            if m.contains("schema_migrations") && (m.contains("does not exist") || m.contains("no such table")) =>
        {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// Splits a migration file into statements on `;` outside quotes and comments.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    let mut in_quote = false;
    while let Some(c) = chars.next() {
        if in_quote {
            current.push(c);
            if c == '\'' {
                in_quote = false;
            }
            continue;
        }
        match c {
            '\'' => {
                in_quote = true;
                current.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            ';' => {
                let statement = current.trim();
                if !statement.is_empty() {
                    out.push(statement.to_owned());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let sql = "-- a; comment\nCREATE TABLE a (x TEXT DEFAULT ';');\nINSERT INTO a VALUES ('it''s;');\n";
        assert_eq!(
            split_statements(sql),
            vec!["CREATE TABLE a (x TEXT DEFAULT ';')", "INSERT INTO a VALUES ('it''s;')"]
        );
    }

    #[test]
    fn every_file_on_disk_is_listed_in_order_for_both_dialects() {
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            let dir = format!("{}/../../migrations/{}", env!("CARGO_MANIFEST_DIR"), dialect.as_str());
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<String> =
                for_dialect(dialect).iter().map(|m| format!("{:04}_{}.sql", m.version, m.name)).collect();
            assert_eq!(files, listed, "{dir}");
        }
        assert_eq!(expected_version(Dialect::Postgres), expected_version(Dialect::Sqlite));
    }
}
