//! Runs the app under a real `spin up` for the HTTP scenario runs. When no
//! `spin` binary is found, callers print that the Spin runs were skipped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::target::{Database, TestApp, Transport, test_config};
use crate::{ADMIN_KEY, Backend};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_owned()
}

/// The `spin` binary: `$SPIN_BIN`, else `spin` on PATH.
pub fn spin_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SPIN_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join("spin")).find(|candidate| candidate.is_file())
    })
}

/// Whether `spin up` can run cron triggers here (the trigger-cron plugin).
pub fn cron_plugin_installed() -> bool {
    let data = std::env::var_os("SPIN_DATA_DIR").map(PathBuf::from).or_else(|| {
        std::env::var_os("XDG_DATA_HOME")
            .map(|d| PathBuf::from(d).join("spin"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/spin")))
    });
    data.is_some_and(|d| d.join("plugins/trigger-cron/trigger-cron").is_file())
}

/// Why the Spin runs cannot happen here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if spin_binary().is_none() {
        return Some("no `spin` binary on PATH (or SPIN_BIN)".into());
    }
    let wasm = workspace_root().join("target/wasm32-wasip2/release/admin.wasm");
    if !wasm.is_file() {
        return Some(format!("components are not built ({} is missing; scripts/test builds them)", wasm.display()));
    }
    None
}

pub struct SpinProcess {
    child: Child,
    _dir: TempDir,
}

impl SpinProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SpinProcess {
    fn drop(&mut self) {
        // `spin up` runs each trigger as a child process: stop the whole group,
        // or orphaned triggers keep their database pools open.
        let group = format!("-{}", self.child.id());
        // `--` so the negative process-group id is not read as an option.
        let _ = Command::new("kill").args(["-s", "TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).status();
        }
        let _ = self.child.wait();
    }
}

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Host and port of a URL, for `allowed_outbound_hosts`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default().to_owned()
}

/// Where the app's key-value store lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyValue {
    /// Spin's local store, private to this app (tests reuse prompt names, so
    /// their caches must not meet).
    Local,
    /// The Redis at the configured `redis_url`, as deployments with Redis
    /// wire it.
    Redis,
}

/// Starts `spin up` on a fresh, migrated database and returns an app whose
/// requests go over HTTP, with the process that serves it.
pub async fn start(backend: Backend, components: &[&str]) -> (TestApp, SpinProcess) {
    start_with(backend, components, KeyValue::Local, |_| {}).await
}

/// Like [`start`], with the key-value store chosen and the configuration
/// adjusted first (e.g. a Redis URL for the worker).
pub async fn start_with(
    backend: Backend,
    components: &[&str],
    kv: KeyValue,
    configure: impl FnOnce(&mut ledger::Config),
) -> (TestApp, SpinProcess) {
    let spin = spin_binary().expect("spin binary");
    let db = Database::create(backend).await;
    db.migrate().await;
    let mut config = test_config(&db);
    configure(&mut config);
    let dir = std::env::temp_dir().join(format!("promptledger-spin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sqlite_path = match &db {
        Database::Sqlite { path } => path.clone(),
        Database::Postgres { .. } => dir.join("unused.db"),
    };
    let kv_store = match kv {
        KeyValue::Local => format!("type = \"spin\"\npath = \"{}\"", dir.join("kv.db").display()),
        KeyValue::Redis => format!("type = \"redis\"\nurl = \"{}\"", config.redis_url),
    };
    let runtime_config = format!(
        "[sqlite_database.default]\ntype = \"spin\"\npath = \"{}\"\n\n[key_value_store.default]\n{kv_store}\n",
        sqlite_path.display(),
    );
    std::fs::write(dir.join("runtime-config.toml"), runtime_config).expect("runtime config");
    let port = free_port();
    let fake = crate::fake_provider::FakeProvider::shared();
    let mut cmd = Command::new(spin);
    cmd.current_dir(workspace_root())
        .arg("up")
        .arg("--from")
        .arg(workspace_root().join("spin.toml"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--runtime-config-file")
        .arg(dir.join("runtime-config.toml"));
    for component in components {
        cmd.arg("--component-id").arg(component);
    }
    let vars = [
        ("API_KEY", ADMIN_KEY.to_owned()),
        ("DATABASE_URL", config.database_url.clone()),
        ("REDIS_URL", config.redis_url.clone()),
        ("OPENAI_API_KEY", config.openai_api_key.clone()),
        ("OPENAI_BASE_URL", config.openai_base_url.clone()),
        ("ANTHROPIC_API_KEY", config.anthropic_api_key.clone()),
        ("ANTHROPIC_BASE_URL", config.anthropic_base_url.clone()),
        ("DB_HOST", host_port(&admin_or(&config.database_url, "127.0.0.1:5432"))),
        ("REDIS_HOST", host_port(&admin_or(&config.redis_url, "127.0.0.1:6379"))),
        ("OPENAI_ORIGIN", fake.base_url()),
        ("ANTHROPIC_ORIGIN", fake.base_url()),
        ("CORS_ORIGINS", config.cors_origins.join(",")),
    ];
    for (name, value) in vars {
        cmd.env(format!("SPIN_VARIABLE_{name}"), value);
    }
    let log = std::fs::File::create(dir.join("spin.log")).expect("log file");
    cmd.stdout(Stdio::from(log.try_clone().expect("log"))).stderr(Stdio::from(log));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().expect("start spin up");
    let process = SpinProcess { child, _dir: TempDir(dir.clone()) };

    let base_url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base_url}/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("spin.log")).unwrap_or_default();
            panic!("spin up did not become healthy within 60 s; its log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (TestApp { db, config, transport: Transport::Http { base_url, client } }, process)
}

fn admin_or(url: &str, default: &str) -> String {
    if url.is_empty() { default.to_owned() } else { url.to_owned() }
}

/// Waits until the worker's Redis trigger has subscribed to the execution
/// queue: `spin up` serves HTTP before that, and a message published earlier
/// reaches no one (the beat would claim its run later).
pub async fn wait_for_worker_subscription() {
    let channel = ledger::executions::QUEUE_CHANNEL;
    let client = redis::Client::open(crate::target::redis_url()).expect("redis url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("Redis is running");
    for _ in 0..100 {
        let (_, subscribers): (String, i64) =
            redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query_async(&mut conn).await.expect("PUBSUB NUMSUB");
        if subscribers > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the worker never subscribed to {channel}");
}
