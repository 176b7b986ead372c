//! Where a scenario's requests go: the core in-process (with native ports)
//! or a `spin up` process over HTTP; and on which database.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use ledger::Config;
use ledger_native::{NativeDb, NativeHost};
use serde_json::Value as Json;

use crate::ADMIN_KEY;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The PostgreSQL server tests use; override with `TEST_POSTGRES_URL`
/// (a URL to an existing database with rights to create databases).
pub fn admin_postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into())
}

pub fn postgres_url_for(database: &str) -> String {
    let base = admin_postgres_url();
    let (head, query) = base.split_once('?').map_or((base.as_str(), ""), |(h, q)| (h, q));
    let server = head.rsplit_once('/').map_or(head, |(server, _)| server);
    if query.is_empty() { format!("{server}/{database}") } else { format!("{server}/{database}?{query}") }
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh, empty database for one test.
pub enum Database {
    Postgres { name: String, url: String },
    Sqlite { path: PathBuf },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Database {
    pub async fn create(backend: Backend) -> Database {
        let unique = format!(
            "{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap_or_default()
        );
        match backend {
            Backend::Postgres => {
                let name = format!("pl_test_{unique}");
                let (client, conn) = tokio_postgres::connect(&admin_postgres_url(), tokio_postgres::NoTls)
                    .await
                    .expect("PostgreSQL must be running for the tests (scripts/test starts it)");
                tokio::spawn(conn);
                client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                let url = postgres_url_for(&name);
                Database::Postgres { name, url }
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("promptledger-tests");
                std::fs::create_dir_all(&dir).expect("temp dir");
                Database::Sqlite { path: dir.join(format!("{unique}.db")) }
            }
        }
    }

    pub fn native(&self) -> NativeDb {
        match self {
            Database::Postgres { url, .. } => NativeDb::postgres(url),
            Database::Sqlite { path } => NativeDb::sqlite(path),
        }
    }

    pub fn url(&self) -> String {
        match self {
            Database::Postgres { url, .. } => url.clone(),
            Database::Sqlite { .. } => String::new(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Postgres { .. } => Backend::Postgres,
            Database::Sqlite { .. } => Backend::Sqlite,
        }
    }

    pub async fn migrate(&self) {
        let report = ledger::migrations::run(&self.native(), 0).await.expect("migrations apply");
        assert!(!report.applied.is_empty());
    }

    /// Drops the database (best effort; leftovers are named `pl_test_*`).
    pub async fn drop_now(&self) {
        match self {
            Database::Postgres { name, .. } => {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin_postgres_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            }
            Database::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
        }
    }
}

/// How requests reach the app.
#[allow(clippy::large_enum_variant)] // A handful per test run.
pub enum Transport {
    InProcess { host: NativeHost },
    Http { base_url: String, client: reqwest::Client },
}

pub struct TestApp {
    pub db: Database,
    pub config: Config,
    pub transport: Transport,
}

/// The one origin test apps allow cross-origin requests from.
pub const TEST_ORIGIN: &str = "https://app.example";

/// The configuration every test app starts with: the bootstrap key and the
/// fake provider standing in for OpenAI and Anthropic.
pub fn test_config(db: &Database) -> Config {
    let fake = crate::fake_provider::FakeProvider::shared();
    Config {
        api_key: ADMIN_KEY.into(),
        database_url: db.url(),
        openai_api_key: "sk-test-openai".into(),
        openai_base_url: format!("{}/v1", fake.base_url()),
        anthropic_api_key: "sk-test-anthropic".into(),
        anthropic_base_url: format!("{}/v1", fake.base_url()),
        cors_origins: vec![TEST_ORIGIN.into()],
        ..Config::default()
    }
}

impl TestApp {
    /// A migrated database on `backend`, served in-process.
    pub async fn in_process(backend: Backend) -> TestApp {
        let db = Database::create(backend).await;
        db.migrate().await;
        let config = test_config(&db);
        TestApp::in_process_with(db, config)
    }

    pub fn in_process_with(db: Database, config: Config) -> TestApp {
        let host = NativeHost::new(db.native(), config.clone());
        TestApp { db, config, transport: Transport::InProcess { host } }
    }

    /// Another in-process host on the same database and key-value store,
    /// standing in for a second replica.
    pub fn replica(&self) -> Option<NativeHost> {
        match &self.transport {
            Transport::InProcess { host } => {
                let mut replica = NativeHost::new(self.db.native(), self.config.clone());
                replica.kv = host.kv.clone();
                Some(replica)
            }
            Transport::Http { .. } => None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    pub fn request(&self, method: http::Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            app: self,
            method,
            path: path.to_owned(),
            headers: vec![("x-api-key".into(), ADMIN_KEY.into())],
            body: Vec::new(),
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(http::Method::GET, path).send().await
    }

    pub async fn post(&self, path: &str, body: Json) -> TestResponse {
        self.request(http::Method::POST, path).json(&body).send().await
    }

    pub async fn patch(&self, path: &str, body: Json) -> TestResponse {
        self.request(http::Method::PATCH, path).json(&body).send().await
    }

    pub async fn put(&self, path: &str, body: Json) -> TestResponse {
        self.request(http::Method::PUT, path).json(&body).send().await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.request(http::Method::DELETE, path).send().await
    }

    /// Creates an API key with `scope` and returns its secret.
    pub async fn key_with_scope(&self, scope: &str) -> String {
        let r = self.post("/v1/api-keys", serde_json::json!({ "name": format!("{scope} key"), "scope": scope })).await;
        assert_eq!(r.status, 201, "{}", r.text());
        r.json["key"].as_str().expect("key in response").to_owned()
    }

    pub async fn finish(self) {
        self.db.drop_now().await;
    }
}

pub struct RequestBuilder<'a> {
    app: &'a TestApp,
    method: http::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RequestBuilder<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without_key(mut self) -> Self {
        self.headers.retain(|(n, _)| n != "x-api-key");
        self
    }

    pub fn key(self, key: &str) -> Self {
        self.header("x-api-key", key)
    }

    pub fn json(mut self, body: &Json) -> Self {
        self.body = serde_json::to_vec(body).expect("json");
        self.header("content-type", "application/json")
    }

    pub fn raw_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub async fn send(self) -> TestResponse {
        match &self.app.transport {
            Transport::InProcess { host } => {
                send_in_process(host, self.method, &self.path, &self.headers, self.body).await
            }
            Transport::Http { base_url, client } => {
                let mut req = client.request(self.method, format!("{base_url}{}", self.path));
                for (name, value) in &self.headers {
                    req = req.header(name, value);
                }
                let response = req.body(self.body).send().await.expect("request to spin");
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.bytes().await.expect("body").to_vec();
                TestResponse::new(status, headers, body)
            }
        }
    }

    /// Sends through `replica` when given (in-process), else as [`Self::send`]:
    /// lets one scenario issue truly concurrent requests on both transports.
    pub async fn send_on(self, replica: Option<&NativeHost>) -> TestResponse {
        match replica {
            Some(host) => self.send_via(host).await,
            None => self.send().await,
        }
    }

    /// Sends through a specific in-process host (a replica).
    pub async fn send_via(self, host: &NativeHost) -> TestResponse {
        send_in_process(host, self.method, &self.path, &self.headers, self.body).await
    }
}

async fn send_in_process(
    host: &NativeHost,
    method: http::Method,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> TestResponse {
    let mut req = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let response = ledger::handle(host, req.body(body).expect("request")).await;
    let (parts, body) = response.into_parts();
    TestResponse::new(parts.status.as_u16(), parts.headers, body)
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    /// The body parsed as JSON, or `null` when it is not JSON.
    pub json: Json,
}

impl TestResponse {
    fn new(status: u16, headers: http::HeaderMap, body: Vec<u8>) -> Self {
        let json = serde_json::from_slice(&body).unwrap_or(Json::Null);
        TestResponse { status, headers, body, json }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the shared error shape and returns its code.
    pub fn error_code(&self) -> &str {
        let code = self.json["error"]["code"].as_str();
        assert!(code.is_some() && self.json["error"]["message"].is_string(), "not an error body: {}", self.text());
        code.unwrap_or_default()
    }
}
