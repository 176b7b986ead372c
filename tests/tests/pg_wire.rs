//! The wire client on a real PostgreSQL server: what the scenario suite
//! does not single out (statement reuse, pooling, transactions left open,
//! server errors, TLS negotiation). The whole in-process suite also runs on
//! it, since native plain-TCP connections use it.

use std::rc::Rc;

use ledger::ports::{Db, DbError, Value};
use ledger_native::TokioConnect;
use ledger_pgwire::{Config, ConnectError, Pool, SslMode, WireDb};
use scenarios::{Backend, Database};

async fn pool(db: &Database, max_open: usize) -> Rc<Pool<TokioConnect>> {
    let config = Config::from_url(&db.url()).expect("test URL");
    Rc::new(Pool::new(TokioConnect, config, max_open).expect("plain TCP to an IP address"))
}

async fn backend_pid(db: &WireDb<TokioConnect>) -> i64 {
    db.query("SELECT pg_backend_pid()::bigint AS pid", &[]).await.unwrap()[0].i64("pid").unwrap()
}

#[tokio::test]
async fn values_and_statements_round_trip() {
    let database = Database::create(Backend::Postgres).await;
    let db = WireDb::open(pool(&database, 2).await).await.unwrap();
    db.execute(
        "CREATE TABLE t (id bigint PRIMARY KEY, name text, score double precision, ok boolean, doc jsonb, at uuid)",
        &[],
    )
    .await
    .unwrap();
    let insert = "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6::uuid)";
    for id in 1..=3 {
        let params = [
            Value::Int(id),
            Value::Text(format!("näme {id}")),
            Value::Real(0.1 * id as f64),
            Value::Bool(id % 2 == 0),
            Value::Json(format!(r#"{{"n": {id}}}"#)),
            Value::Text("0190c1e2-0000-7000-8000-000000000000".into()),
        ];
        assert_eq!(db.execute(insert, &params).await.unwrap(), 1);
    }
    let rows = db.query("SELECT * FROM t WHERE id >= $1 ORDER BY id", &[Value::Int(2)]).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].str("name").unwrap(), "näme 2");
    assert_eq!(rows[0].f64("score").unwrap(), 0.2);
    assert!(rows[0].bool("ok").unwrap());
    assert_eq!(rows[1].json("doc").unwrap()["n"], 3);
    assert_eq!(rows[1].str("at").unwrap(), "0190c1e2-0000-7000-8000-000000000000");
    let nulls = db.query("SELECT $1::text AS a, NULL::bigint AS b", &[Value::Null]).await.unwrap();
    assert_eq!((nulls[0].opt_str("a").unwrap(), nulls[0].opt_i64("b").unwrap()), (None, None));

    // The insert was parsed once and reused.
    let prepared = db
        .query(
            "SELECT count(*)::bigint AS n FROM pg_prepared_statements WHERE statement = $1",
            &[Value::Text(insert.into())],
        )
        .await
        .unwrap();
    assert_eq!(prepared[0].i64("n").unwrap(), 1);
    assert_eq!(db.execute("UPDATE t SET ok = NOT ok WHERE id > $1", &[Value::Int(0)]).await.unwrap(), 3);
    drop(db);
    database.drop_now().await;
}

#[tokio::test]
async fn server_errors_keep_the_connection_usable() {
    let database = Database::create(Backend::Postgres).await;
    let db = WireDb::open(pool(&database, 2).await).await.unwrap();
    db.execute("CREATE TABLE u (k text CONSTRAINT u_k UNIQUE)", &[]).await.unwrap();
    db.execute("INSERT INTO u VALUES ($1)", &[Value::Text("a".into())]).await.unwrap();
    let pid = backend_pid(&db).await;
    match db.execute("INSERT INTO u VALUES ($1)", &[Value::Text("a".into())]).await {
        Err(DbError::Unique(constraint)) => assert_eq!(constraint, "u_k"),
        other => panic!("expected a unique violation, got {other:?}"),
    }
    assert!(
        matches!(db.query("SELECT nope FROM u WHERE k = $1", &[Value::Text("a".into())]).await, Err(DbError::Query(m)) if m.starts_with("42703"))
    );
    assert_eq!(backend_pid(&db).await, pid, "errors do not cost the connection");
    drop(db);
    database.drop_now().await;
}

#[tokio::test]
async fn connections_return_to_the_pool_and_open_transactions_do_not() {
    let database = Database::create(Backend::Postgres).await;
    let pool = pool(&database, 2).await;
    let first = WireDb::open(pool.clone()).await.unwrap();
    let pid = backend_pid(&first).await;
    drop(first);
    assert_eq!(pool.idle_count(), 1);
    let second = WireDb::open(pool.clone()).await.unwrap();
    assert_eq!(backend_pid(&second).await, pid, "the idle connection is reused");

    second.execute("CREATE TABLE v (x bigint)", &[]).await.unwrap();
    second.execute("BEGIN", &[]).await.unwrap();
    second.execute("INSERT INTO v VALUES ($1)", &[Value::Int(1)]).await.unwrap();
    drop(second);
    assert_eq!(pool.idle_count(), 0, "a connection inside a transaction is closed, not reused");
    let third = WireDb::open(pool.clone()).await.unwrap();
    assert_ne!(backend_pid(&third).await, pid);
    assert!(third.query("SELECT x FROM v", &[]).await.unwrap().is_empty(), "the open transaction was rolled back");

    // Concurrent statements of one request each get a connection.
    let (a, b) = tokio::join!(backend_pid(&third), backend_pid(&third));
    assert_ne!(a, b);
    drop(third);
    assert_eq!(pool.idle_count(), 2);
    database.drop_now().await;
}

#[tokio::test]
async fn statements_wait_for_a_connection_at_the_limit() {
    let database = Database::create(Backend::Postgres).await;
    let pool = pool(&database, 1).await;
    let (one, two) = (WireDb::new(pool.clone()), WireDb::new(pool.clone()));
    let pid = "SELECT pg_backend_pid()::bigint AS pid, pg_sleep(0.1)::text AS s";
    // One connection: the second request waits for the first's statement, not its end.
    let (a, b) = tokio::join!(one.query(pid, &[]), two.query(pid, &[]));
    assert_eq!(a.unwrap()[0].i64("pid").unwrap(), b.unwrap()[0].i64("pid").unwrap());
    // A transaction keeps its connection; the other request waits until it ends.
    one.execute("BEGIN", &[]).await.unwrap();
    let (committed, waited) = tokio::join!(
        async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            one.execute("COMMIT", &[]).await
        },
        two.query("SELECT 1::bigint AS n", &[])
    );
    committed.unwrap();
    assert_eq!(waited.unwrap()[0].i64("n").unwrap(), 1);
    assert_eq!(pool.idle_count(), 1);
    database.drop_now().await;
}

#[tokio::test]
async fn urls_it_cannot_serve_are_reported_as_unsupported() {
    for url in ["postgres://u@db.internal/x", "postgres://u@127.0.0.1/x?sslmode=require"] {
        let config = Config::from_url(url).unwrap();
        assert!(matches!(Pool::new(TokioConnect, config, 1), Err(ConnectError::Unsupported(_))), "{url}");
    }
    // `prefer` goes on in plain TCP when the server has no TLS, and hands
    // over to a TLS driver when it has.
    let database = Database::create(Backend::Postgres).await;
    let plain = WireDb::open(pool(&database, 1).await).await.unwrap();
    let server_tls = plain.query("SHOW ssl", &[]).await.unwrap()[0].str("ssl").unwrap() == "on";
    drop(plain);
    let mut config = Config::from_url(&database.url()).unwrap();
    config.ssl_mode = SslMode::Prefer;
    match WireDb::open(Rc::new(Pool::new(TokioConnect, config, 1).unwrap())).await {
        Err(ConnectError::Unsupported(_)) => assert!(server_tls),
        Ok(db) => {
            assert!(!server_tls);
            let ssl = db.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
            assert_eq!(ssl[0].bool("ssl").ok(), Some(false));
        }
        Err(other) => panic!("{other:?}"),
    }
    database.drop_now().await;
}
