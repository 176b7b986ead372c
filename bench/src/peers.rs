//! Peer gateways for side-by-side runs, installed under target/bench-peers
//! and pointed at the same fake provider. Only loopback traffic.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const LITELLM_VERSION: &str = "1.102.4";
pub const PORTKEY_VERSION: &str = "1.15.2";

pub struct Peer {
    pub name: &'static str,
    pub child: Child,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir(root: &Path) -> PathBuf {
    root.join("target/bench-peers")
}

fn sh(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.stdout(Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "command failed: {cmd:?}");
    Ok(())
}

async fn wait_ready(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await
            && r.status().as_u16() < 500
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("{url} did not answer within {timeout:?}")
}

/// LiteLLM proxy (PyPI), without a database, with the local cost map and no telemetry.
pub async fn litellm(root: &Path, fake_base: &str, model: &str) -> anyhow::Result<Peer> {
    let base = dir(root).join("litellm");
    let python = base.join("venv/bin/python");
    if !base.join("venv/bin/litellm").exists() {
        std::fs::create_dir_all(&base)?;
        sh(Command::new("python3").args(["-m", "venv"]).arg(base.join("venv")))?;
        sh(Command::new(&python).args(["-m", "pip", "install", "-q", &format!("litellm[proxy]=={LITELLM_VERSION}")]))?;
    }
    let config = format!(
        "model_list:\n  - model_name: {model}\n    litellm_params:\n      model: openai/{model}\n      api_base: {fake_base}/v1\n      api_key: sk-fake\n"
    );
    std::fs::write(base.join("config.yaml"), config)?;
    let port = 4000;
    let child = Command::new(base.join("venv/bin/litellm"))
        .args(["--config"])
        .arg(base.join("config.yaml"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--telemetry", "False"])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(base.join("litellm.log"))?))
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}");
    let peer = Peer { name: "LiteLLM", child, url: format!("{url}/chat/completions"), headers: Vec::new() };
    wait_ready(&format!("{url}/health/liveliness"), Duration::from_secs(90)).await?;
    Ok(peer)
}

/// Portkey gateway (npm), routed to the fake as a custom OpenAI host.
pub async fn portkey(root: &Path, fake_base: &str) -> anyhow::Result<Peer> {
    let base = dir(root).join("portkey");
    let start = base.join("node_modules/@portkey-ai/gateway/build/start-server.js");
    if !start.exists() {
        std::fs::create_dir_all(&base)?;
        sh(Command::new("npm").current_dir(&base).args([
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            &format!("@portkey-ai/gateway@{PORTKEY_VERSION}"),
        ]))?;
    }
    let child = Command::new("node")
        .arg(&start)
        .arg("--headless")
        .current_dir(&base)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(base.join("portkey.log"))?))
        .spawn()?;
    let url = "http://127.0.0.1:8787".to_owned();
    let peer = Peer {
        name: "Portkey",
        child,
        url: format!("{url}/v1/chat/completions"),
        headers: vec![
            ("x-portkey-provider".into(), "openai".into()),
            ("x-portkey-custom-host".into(), format!("{fake_base}/v1")),
            ("authorization".into(), "Bearer sk-fake".into()),
        ],
    };
    wait_ready(&url, Duration::from_secs(60)).await?;
    Ok(peer)
}
