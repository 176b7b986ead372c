//! `promptledger`: applies migrations before the app serves (entrypoint and
//! local run), and small admin tasks.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ledger::ports::{Clock, SystemClock};
use ledger_native::NativeDb;

const USAGE: &str = "\
usage: promptledger migrate [--sqlite PATH] [--wait SECONDS]

  Applies pending migrations to the database in DATABASE_URL, or to the
  SQLite file PATH when DATABASE_URL is empty (default .data/promptledger.db).
  Waits up to SECONDS (default 30) for the database to accept connections.";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("migrate") => match migrate(&args[1..]).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("promptledger migrate: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn migrate(args: &[String]) -> anyhow::Result<()> {
    let mut sqlite = String::from(".data/promptledger.db");
    let mut wait = Duration::from_secs(30);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--sqlite" => sqlite = value.clone(),
            "--wait" => wait = Duration::from_secs(value.parse()?),
            _ => anyhow::bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    let target = if url.is_empty() { format!("sqlite {sqlite}") } else { "postgres".to_owned() };
    let deadline = Instant::now() + wait;
    loop {
        let db = if url.is_empty() { NativeDb::sqlite(&sqlite) } else { NativeDb::postgres(&url) };
        match ledger::migrations::run(&db, SystemClock.now_ms()).await {
            Ok(report) => {
                if report.applied.is_empty() {
                    println!("migrations: {target} is up to date at version {}", report.current);
                } else {
                    println!("migrations: applied {:?} to {target}; now at version {}", report.applied, report.current);
                }
                if !report.unknown.is_empty() {
                    println!("migrations: the database also has versions {:?} from a newer release", report.unknown);
                }
                return Ok(());
            }
            Err(ledger::migrations::MigrationError::Db(ledger::ports::DbError::Unavailable(e)))
                if Instant::now() < deadline =>
            {
                eprintln!("migrations: waiting for the database ({e})");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
