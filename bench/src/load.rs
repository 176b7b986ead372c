//! A closed-loop load generator: `connections` tasks, each sending its next
//! request when the previous answer arrives, for a fixed duration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method};

#[derive(Clone)]
pub struct Target {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Target {
    pub fn get(url: impl Into<String>) -> Self {
        Target { method: Method::GET, url: url.into(), headers: Vec::new(), body: None }
    }

    pub fn post_json(url: impl Into<String>, body: &serde_json::Value) -> Self {
        Target {
            method: Method::POST,
            url: url.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(serde_json::to_vec(body).expect("json")),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Stats {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// Runs the load; `make` may vary each request (e.g. a unique idempotency key).
pub async fn run(connections: usize, duration: Duration, make: Arc<dyn Fn(usize) -> Target + Send + Sync>) -> Stats {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            // One client per task: one kept-alive connection each.
            let client = Client::builder().pool_max_idle_per_host(1).build().expect("client");
            let mut latencies = Vec::with_capacity(4096);
            let mut errors = 0usize;
            let mut n = 0usize;
            while Instant::now() < deadline {
                let target = make(worker * 1_000_000 + n);
                n += 1;
                let sent = Instant::now();
                match request(&client, &target).send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let status = r.status();
                        let body = r.bytes().await.unwrap_or_default();
                        if !ok && errors == 0 && std::env::var_os("BENCH_SHOW_ERRORS").is_some() {
                            eprintln!("first error: {status} {}", String::from_utf8_lossy(&body));
                        }
                        latencies.push(sent.elapsed().as_micros() as u32);
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("load task");
        all.extend(l);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            f64::NAN
        } else {
            all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0
        }
    };
    Stats { requests: all.len(), errors, seconds, p50_ms: pct(0.50), p99_ms: pct(0.99) }
}

/// Sends `target` once and returns the latency in ms and the body.
pub async fn once(client: &Client, target: &Target) -> (f64, u16, serde_json::Value) {
    let sent = Instant::now();
    let r = request(client, target).send().await.expect("request");
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    let ms = sent.elapsed().as_secs_f64() * 1000.0;
    (ms, status, serde_json::from_slice(&body).unwrap_or_default())
}

fn request(client: &Client, target: &Target) -> reqwest::RequestBuilder {
    let mut req = client.request(target.method.clone(), &target.url);
    for (k, v) in &target.headers {
        req = req.header(k, v);
    }
    if let Some(body) = target.body.clone() {
        req = req.body(body);
    }
    req
}
