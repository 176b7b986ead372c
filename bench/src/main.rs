//! `promptledger-bench`: starts PromptLedger under `spin up` on a fresh
//! PostgreSQL database with the fake provider, drives it with a closed-loop
//! load generator and prints figures. Figures, not pass/fail: the machine is
//! shared and noisy, so compare rows measured in the same run.
//!
//! Usage: promptledger-bench [foundation|registry|executions|lineage|all|guard-rails] [--peers] [--seconds N]
//!
//! `guard-rails` runs in-process (no Spin needed): what per-key limits add.

mod guard_rails;
mod load;
mod peers;
mod proc_stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use load::{Stats, Target};
use scenarios::fake_provider::FakeProvider;
use scenarios::target::redis_url;
use scenarios::{ADMIN_KEY, Backend, spin};
use serde_json::json;

const HTTP: &[&str] = &["health", "prompts", "executions", "traces", "analytics", "admin"];

struct Options {
    suites: Vec<String>,
    peers: bool,
    seconds: u64,
}

fn options() -> Options {
    let mut suites = Vec::new();
    let mut peers = false;
    let mut seconds = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--peers" => peers = true,
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(5),
            other => suites.push(other.to_owned()),
        }
    }
    if suites.is_empty() || suites.iter().any(|s| s == "all") {
        suites = ["foundation", "registry", "executions", "lineage"].map(String::from).to_vec();
    }
    Options { suites, peers, seconds }
}

fn row(name: &str, conns: usize, s: &Stats, cpu_ms_per_req: Option<f64>) {
    let cpu = cpu_ms_per_req.map_or(String::from("-"), |c| format!("{c:.3}"));
    println!(
        "| {name:<44} | {conns:>5} | {:>8.0} | {:>8.3} | {:>8.3} | {:>6} | {cpu:>9} |",
        s.rps(),
        s.p50_ms,
        s.p99_ms,
        s.errors
    );
}

fn header(title: &str) {
    println!("\n### {title}\n");
    println!(
        "| {:<44} | {:>5} | {:>8} | {:>8} | {:>8} | {:>6} | {:>9} |",
        "request", "conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req"
    );
    println!("|{:-<46}|{:->7}|{:->10}|{:->10}|{:->10}|{:->8}|{:->11}|", "", "", "", "", "", "", "");
}

/// Runs `target` at 1 and 32 connections and prints both rows, with the
/// app's CPU time per request.
async fn measure(
    name: &str,
    pid: Option<u32>,
    seconds: u64,
    make: Arc<dyn Fn(usize) -> Target + Send + Sync>,
) -> (Stats, Stats) {
    let _ = load::run(4, Duration::from_millis(500), make.clone()).await; // warm up
    let mut out = Vec::new();
    for conns in [1, 32] {
        let cpu0 = pid.map(proc_stats::tree_cpu_seconds);
        let s = load::run(conns, Duration::from_secs(seconds), make.clone()).await;
        let cpu =
            pid.zip(cpu0).map(|(p, c0)| (proc_stats::tree_cpu_seconds(p) - c0) * 1000.0 / s.requests.max(1) as f64);
        row(name, conns, &s, cpu);
        out.push(s);
    }
    let second = out.pop().expect("two runs");
    (out.pop().expect("two runs"), second)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let opts = options();
    if opts.suites == ["guard-rails"] {
        return guard_rails::run().await;
    }
    if let Some(reason) = spin::skip_reason() {
        anyhow::bail!("the benchmark runs the app under `spin up`, which cannot start here: {reason}");
    }
    let fake = FakeProvider::shared();
    println!("# PromptLedger benchmark\n");
    println!("Spin: {}; PostgreSQL at 127.0.0.1; fake provider at {}.", spin_version(), fake.base_url());
    println!(
        "Closed-loop load for {} s per row; p50/p99 over every request. CPU ms/req is the spin process tree.",
        opts.seconds
    );

    let client = reqwest::Client::new();
    // A fresh app per suite: Spin pools up to 64 PostgreSQL connections per
    // component, so one app loaded by every suite in turn would need more
    // connections than this PostgreSQL allows.
    for suite in &opts.suites {
        // Deployed as with Redis: the key-value store (caches) is Redis too.
        let (app, process) =
            spin::start_with(Backend::Postgres, HTTP, spin::KeyValue::Redis, |c| c.redis_url = redis_url()).await;
        let base = match &app.transport {
            scenarios::target::Transport::Http { base_url, .. } => base_url.clone(),
            _ => unreachable!("spin app"),
        };
        let pid = Some(process.pid());
        // A stored key, so authentication does the real database lookup.
        let key = app.key_with_scope("admin").await;
        match suite.as_str() {
            "foundation" => foundation(&base, &key, &client, pid, opts.seconds).await?,
            "registry" => registry(&base, &key, &client, pid, opts.seconds).await?,
            "executions" => {
                durable_commit_floor(&app, opts.seconds).await?;
                executions(&base, &key, &client, pid, &opts).await?
            }
            "lineage" => lineage(&app, &base, &key, &client, pid, opts.seconds).await?,
            "guard-rails" => guard_rails::run().await?,
            other => anyhow::bail!("unknown suite `{other}`"),
        }
        println!("\nspin process tree RSS after the suite: {:.0} MB", proc_stats::tree_rss_mb(process.pid()));
        drop(process);
        app.finish().await;
    }
    if opts.suites.iter().any(|s| s == "executions") {
        redis_drain(&client).await?;
    }
    Ok(())
}

fn spin_version() -> String {
    spin::spin_binary()
        .and_then(|b| std::process::Command::new(b).arg("--version").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

async fn foundation(
    base: &str,
    key: &str,
    client: &reqwest::Client,
    pid: Option<u32>,
    seconds: u64,
) -> anyhow::Result<()> {
    header("Foundation");
    let url = format!("{base}/v1/models");
    measure("GET /v1/models without a key (401: floor)", pid, seconds, Arc::new(move |_| Target::get(url.clone())))
        .await;
    let url = format!("{base}/health");
    measure("GET /health", pid, seconds, Arc::new(move |_| Target::get(url.clone()))).await;
    measure("GET /v1/models (stored key, one query)", pid, seconds, keyed_get(format!("{base}/v1/models"), key)).await;
    let name = bench_prompt(client, base, key).await?;
    measure(
        "GET /v1/prompts/{name} (stored key, cached)",
        pid,
        seconds,
        keyed_get(format!("{base}/v1/prompts/{name}"), key),
    )
    .await;
    Ok(())
}

/// The same authenticated GET, again and again.
fn keyed_get(url: String, key: &str) -> Arc<dyn Fn(usize) -> Target + Send + Sync> {
    let key = key.to_owned();
    Arc::new(move |_| Target::get(url.clone()).header("x-api-key", &key))
}

/// A new prompt with three variables; returns its name.
async fn bench_prompt(client: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<String> {
    let name = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let template = "Summarise {{ topic }} for {{ audience }} in {{ n }} bullet points.";
    create_prompt(client, base, key, json!({ "name": name, "template": template })).await?;
    Ok(name)
}

async fn registry(
    base: &str,
    key: &str,
    client: &reqwest::Client,
    pid: Option<u32>,
    seconds: u64,
) -> anyhow::Result<()> {
    header("Registry");
    let name = bench_prompt(client, base, key).await?;
    measure("GET /v1/prompts/{name}", pid, seconds, keyed_get(format!("{base}/v1/prompts/{name}"), key)).await;
    let url = format!("{base}/v1/prompts/{name}:render");
    let k = key.to_owned();
    let body = json!({ "variables": { "topic": "tides", "audience": "children", "n": 3 } });
    measure(
        "POST /v1/prompts/{name}:render",
        pid,
        seconds,
        Arc::new(move |_| Target::post_json(url.clone(), &body).header("x-api-key", &k)),
    )
    .await;
    Ok(())
}

async fn create_prompt(client: &reqwest::Client, base: &str, key: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let create = Target::post_json(format!("{base}/v1/prompts"), &body).header("x-api-key", key);
    let (_, status, body) = load::once(client, &create).await;
    anyhow::ensure!(status == 201, "creating the prompt failed: {status} {body}");
    Ok(())
}

fn chat_body(model: &str) -> serde_json::Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": "Say hello to the benchmark" }] })
}

/// How long PostgreSQL takes to commit one row durably on this machine
/// (the WAL flush), measured straight from this process: no record that is
/// committed before the response can be cheaper.
async fn durable_commit_floor(app: &scenarios::TestApp, seconds: u64) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(&app.db.url(), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client.batch_execute("CREATE TABLE IF NOT EXISTS bench_commit (n BIGINT)").await?;
    let insert = client.prepare("INSERT INTO bench_commit (n) VALUES ($1)").await?;
    let deadline = Instant::now() + Duration::from_secs(seconds.max(1));
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        client.execute(&insert, &[&(samples.len() as i64)]).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    client.batch_execute("DROP TABLE bench_commit").await?;
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "\nPostgreSQL durable commit of one row, direct, 1 connection: p50 {:.3} ms, p99 {:.3} ms ({} commits)",
        at(0.5),
        at(0.99),
        samples.len()
    );
    Ok(())
}

async fn executions(
    base: &str,
    key: &str,
    client: &reqwest::Client,
    pid: Option<u32>,
    opts: &Options,
) -> anyhow::Result<()> {
    let fake = FakeProvider::shared();
    let model = "bench-model";
    header("Executions: sync run vs the same call direct and through peer gateways");
    let url = format!("{}/v1/chat/completions", fake.base_url());
    let body = chat_body(model);
    let (direct1, direct32) = measure(
        "direct to fake provider",
        None,
        opts.seconds,
        Arc::new(move |_| Target::post_json(url.clone(), &body).header("authorization", "Bearer sk-fake")),
    )
    .await;

    // A registered prompt, as applications run them.
    let name = format!("bench-run-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    create_prompt(
        client,
        base,
        key,
        json!({ "name": name, "template": "Say hello to {{ who }}", "config": { "provider": "openai", "model": model } }),
    )
    .await?;
    let url = format!("{base}/v1/executions:run");
    let k = key.to_owned();
    let run_body = json!({ "prompt_name": name, "variables": { "who": "the benchmark" } });
    let (pl1, pl32) = measure(
        "PromptLedger executions:run (prompt_name)",
        pid,
        opts.seconds,
        Arc::new(move |_| Target::post_json(url.clone(), &run_body).header("x-api-key", &k)),
    )
    .await;
    let url = format!("{base}/v1/executions:run");
    let k = key.to_owned();
    let inline =
        json!({ "template": "Say hello to the benchmark", "model": { "provider": "openai", "model_name": model } });
    measure(
        "PromptLedger executions:run (inline template)",
        pid,
        opts.seconds,
        Arc::new(move |_| Target::post_json(url.clone(), &inline).header("x-api-key", &k)),
    )
    .await;

    let mut added = vec![("PromptLedger", pl1.p50_ms - direct1.p50_ms, pl1.p99_ms - direct1.p99_ms, pl32.rps())];
    if opts.peers {
        let root = spin::workspace_root();
        for start in [0, 1] {
            let peer = if start == 0 {
                peers::litellm(&root, &fake.base_url(), model).await
            } else {
                peers::portkey(&root, &fake.base_url()).await
            };
            let peer = match peer {
                Ok(p) => p,
                Err(e) => {
                    println!("| peer could not start: {e} |");
                    continue;
                }
            };
            let url = peer.url.clone();
            let headers = peer.headers.clone();
            let body = chat_body(model);
            // LiteLLM's first requests are slow: warm it up well.
            let _ = load::run(
                2,
                Duration::from_secs(3),
                Arc::new({
                    let (url, headers, body) = (url.clone(), headers.clone(), body.clone());
                    move |_| headers.iter().fold(Target::post_json(url.clone(), &body), |t, (k, v)| t.header(k, v))
                }),
            )
            .await;
            let peer_pid = Some(peer.child.id());
            let (p1, p32) = measure(
                &format!("{} POST chat/completions", peer.name),
                peer_pid,
                opts.seconds,
                Arc::new(move |_| {
                    headers.iter().fold(Target::post_json(url.clone(), &body), |t, (k, v)| t.header(k, v))
                }),
            )
            .await;
            added.push((peer.name, p1.p50_ms - direct1.p50_ms, p1.p99_ms - direct1.p99_ms, p32.rps()));
        }
    } else {
        println!("\n(peer gateways not run: pass --peers)");
    }
    println!("\n| gateway | added p50 ms (1 conn) | added p99 ms (1 conn) | req/s at 32 conns |");
    println!("|---|---|---|---|");
    for (name, p50, p99, rps) in &added {
        println!("| {name} | {p50:.3} | {p99:.3} | {rps:.0} |");
    }
    println!("(direct to fake at 32 conns: {:.0} req/s)", direct32.rps());

    println!("\n### Async drain: 1,000 queued executions\n");
    println!("| pipeline | enqueue s | all succeeded after s |");
    println!("|---|---|---|");
    // Without Redis: this app has no worker; the internal beat route drains.
    let (enqueue, total) = drain_once(base, key, client, true).await?;
    println!("| no Redis: beat (internal route, back to back) | {enqueue:.2} | {total:.2} |");
    Ok(())
}

/// 1,000 async runs queued as fast as 32 connections allow, then the time
/// until all succeeded, with Redis and the worker component. Runs alone:
/// each Spin process pools up to 64 PostgreSQL connections.
async fn redis_drain(client: &reqwest::Client) -> anyhow::Result<()> {
    let (app, process) =
        spin::start_with(Backend::Postgres, &["executions", "worker", "health"], spin::KeyValue::Redis, |c| {
            c.redis_url = redis_url()
        })
        .await;
    let base = match &app.transport {
        scenarios::target::Transport::Http { base_url, .. } => base_url.clone(),
        _ => unreachable!("spin app"),
    };
    spin::wait_for_worker_subscription().await;
    let (enqueue, total) = drain_once(&base, ADMIN_KEY, client, false).await?;
    println!("| Redis: worker component | {enqueue:.2} | {total:.2} |");
    drop(process);
    app.finish().await;
    Ok(())
}

async fn drain_once(base: &str, key: &str, client: &reqwest::Client, beat: bool) -> anyhow::Result<(f64, f64)> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let url = format!("{base}/v1/executions:run");
    let k = key.to_owned();
    let body = json!({ "template": "queued work", "mode": "async", "correlation_id": tag, "model": { "provider": "openai", "model_name": "bench-async" } });
    let enqueued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = enqueued.clone();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, url, k, body, counter) = (client.clone(), url.clone(), k.clone(), body.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            while counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 1000 {
                let r = client.post(&url).header("x-api-key", &k).json(&body).send().await?;
                let status = r.status().as_u16();
                anyhow::ensure!(status == 202, "enqueue failed: {status} {}", r.text().await.unwrap_or_default());
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let enqueue = started.elapsed().as_secs_f64();
    loop {
        if beat {
            client.post(format!("{base}/v1/internal/beat")).header("x-api-key", key).send().await?;
        }
        let done = count_succeeded(client, base, key, &tag).await?;
        if done >= 1000 {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "drain did not finish in 60 s ({done} done)");
        if !beat {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok((enqueue, started.elapsed().as_secs_f64()))
}

async fn count_succeeded(client: &reqwest::Client, base: &str, key: &str, tag: &str) -> anyhow::Result<usize> {
    let mut cursor: Option<String> = None;
    let mut done = 0;
    loop {
        let mut url = format!("{base}/v1/executions?correlation_id={tag}&status=succeeded&limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value = client.get(url).header("x-api-key", key).send().await?.json().await?;
        done += page["data"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(done),
        }
    }
}

async fn lineage(
    app: &scenarios::TestApp,
    base: &str,
    key: &str,
    client: &reqwest::Client,
    pid: Option<u32>,
    seconds: u64,
) -> anyhow::Result<()> {
    header("Lineage and analytics");
    // Span ingest: batches of 100 spans, each batch a new trace.
    let url = format!("{base}/v1/traces");
    let k = key.to_owned();
    let (_, s32) = measure("POST /v1/traces (100 spans per batch)", pid, seconds, Arc::new(move |n| {
        let trace_id = format!("{:032x}", (n as u128) << 64 | u128::from(rand_u64()));
        let spans: Vec<serde_json::Value> = (0..100)
            .map(|i| json!({
                "span_id": format!("{i:016x}"), "trace_id": trace_id, "parent_span_id": if i == 0 { serde_json::Value::Null } else { json!(format!("{:016x}", 0)) },
                "name": format!("step {i}"), "span_type": "llm", "started_at": 1_700_000_000_000i64 + i, "ended_at": 1_700_000_000_100i64 + i,
                "status": "ok", "attributes": { "i": i },
            }))
            .collect();
        Target::post_json(url.clone(), &json!({ "trace_id": trace_id, "service_name": "bench", "spans": spans })).header("x-api-key", &k)
    }))
    .await;
    println!("\nspan ingest at 32 connections: {:.0} spans/s", s32.rps() * 100.0);

    // One trace with 1,000 spans, then query it.
    let trace_id = format!("{:032x}", u128::from(rand_u64()) << 64 | u128::from(rand_u64()));
    for batch in 0..10 {
        let spans: Vec<serde_json::Value> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                json!({ "span_id": format!("{n:016x}"), "trace_id": trace_id,
                    "parent_span_id": if n == 0 { serde_json::Value::Null } else { json!(format!("{:016x}", (n - 1) / 10)) },
                    "name": format!("step {n}"), "started_at": 1_700_000_000_000i64 + n, "ended_at": 1_700_000_000_500i64 + n, "status": "ok" })
            })
            .collect();
        let t = Target::post_json(
            format!("{base}/v1/traces"),
            &json!({ "trace_id": trace_id, "service_name": "bench", "spans": spans }),
        )
        .header("x-api-key", key);
        let (_, status, body) = load::once(client, &t).await;
        anyhow::ensure!(status < 300, "ingest failed: {status} {body}");
    }
    measure("GET /v1/traces/{id} (1,000 spans)", pid, seconds, keyed_get(format!("{base}/v1/traces/{trace_id}"), key))
        .await;

    // Analytics over 1,000,000 executions seeded straight into PostgreSQL.
    seed_executions(app, 1_000_000).await?;
    let fold_started = Instant::now();
    let mut passes = 0;
    loop {
        passes += 1;
        let (_, _, report) = load::once(
            client,
            &Target::post_json(format!("{base}/v1/internal/beat"), &json!({})).header("x-api-key", key),
        )
        .await;
        if report["rollups"]["caught_up"].as_bool() == Some(true) || passes > 200 {
            break;
        }
    }
    println!(
        "\nrollups for 1,000,000 executions folded in {:.1} s over {passes} beat passes",
        fold_started.elapsed().as_secs_f64()
    );
    measure(
        "GET /v1/analytics/summary (1M executions)",
        pid,
        seconds,
        keyed_get(format!("{base}/v1/analytics/summary?since=0"), key),
    )
    .await;
    Ok(())
}

fn rand_u64() -> u64 {
    let id = uuid::Uuid::new_v4();
    u64::from_le_bytes(id.as_bytes()[..8].try_into().unwrap_or_default())
}

/// Inserts `n` finished executions over the last 30 days with SQL, in one
/// statement per 100,000 rows.
async fn seed_executions(app: &scenarios::TestApp, n: i64) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(&app.db.url(), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let started = Instant::now();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let prompt = uuid::Uuid::now_v7().to_string();
    client
        .execute(
            "INSERT INTO prompts (id, name, mode, latest_version, created_at, updated_at) VALUES ($1, $2, 'full', 2, $3, $3)",
            &[&prompt, &format!("bench-analytics-{}", &prompt[..8]), &now],
        )
        .await?;
    let versions = [uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string()];
    for (i, v) in versions.iter().enumerate() {
        client
            .execute(
                "INSERT INTO prompt_versions (id, prompt_id, version, kind, template, checksum_hash, status, created_at) \
                 VALUES ($1, $2, $3, 'text', 'x', $4, $5, $6)",
                &[v, &prompt, &(i as i64 + 1), &format!("bench{i}{prompt}"), &(if i == 1 { "active" } else { "archived" }), &now],
            )
            .await?;
    }
    for chunk in 0..(n / 100_000).max(1) {
        client
            .execute(
                "INSERT INTO executions (id, prompt_id, prompt_version_id, prompt_name, version, provider, model_name, mode, status, \
                 prompt_tokens, response_tokens, provider_latency_ms, total_latency_ms, cost_nanos, error_type, attempts, \
                 created_at, started_at, completed_at, updated_at) \
                 SELECT md5(($1::bigint * 100000 + g)::text)::uuid::text, $2, CASE WHEN g % 2 = 0 THEN $3 ELSE $4 END, 'bench', \
                 1 + g % 2, 'openai', CASE WHEN g % 3 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END, 'sync', \
                 CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END, 20 + g % 100, 50 + g % 200, 100 + g % 900, \
                 110 + g % 900, 1000 + g % 5000, CASE WHEN g % 50 = 0 THEN 'provider_server_error' END, 1, \
                 $5::bigint - (($1::bigint * 100000 + g) * 2592000000 / $6::bigint), \
                 $5::bigint - (($1::bigint * 100000 + g) * 2592000000 / $6::bigint), \
                 $5::bigint - (($1::bigint * 100000 + g) * 2592000000 / $6::bigint) + 110 + g % 900, $5::bigint \
                 FROM generate_series(1, 100000) g",
                &[&chunk, &prompt, &versions[0], &versions[1], &now, &n],
            )
            .await?;
    }
    println!("\nseeded {n} executions in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
