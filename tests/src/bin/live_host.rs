//! `live-host`: PromptLedger over loopback HTTP for the client suites (SDK,
//! schemathesis, OpenTelemetry exporters, browser tests). Under `spin up`
//! when a `spin` binary and the built components are present, else the same
//! `ledger::handle` on the native ports. A test fixture, not a deployment.
//!
//! Prints one JSON line when ready (`url`, `api_key`, `fake_provider_url`,
//! `backend`, `host`) and serves until killed.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::Response;
use ledger::Host;
use ledger_native::NativeHost;
use scenarios::fake_provider::FakeProvider;
use scenarios::target::Transport;
use scenarios::{ADMIN_KEY, Backend, TestApp, spin};
use tokio::sync::{mpsc, oneshot};

const USAGE: &str = "usage: live-host [--backend sqlite|postgres] [--port N] [--native]";

/// Every HTTP component, as the API service runs them.
const HTTP_COMPONENTS: &[&str] = &["health", "prompts", "executions", "traces", "analytics", "admin", "ui"];

/// How often the native host runs the beat (queued runs, rollups), as the
/// cron trigger does under Spin.
const BEAT_EVERY: Duration = Duration::from_secs(1);

struct Options {
    backend: Backend,
    port: u16,
    native_only: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options { backend: Backend::Sqlite, port: 0, native_only: false };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--backend" => {
                options.backend = match args.next().as_deref() {
                    Some("sqlite") => Backend::Sqlite,
                    Some("postgres") => Backend::Postgres,
                    _ => return Err(format!("--backend takes sqlite or postgres\n{USAGE}")),
                }
            }
            "--port" => {
                options.port =
                    args.next().and_then(|p| p.parse().ok()).ok_or(format!("--port takes a number\n{USAGE}"))?
            }
            "--native" => options.native_only = true,
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    Ok(options)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let fake = FakeProvider::shared();
    let backend = match options.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let ready = |url: &str, host: &str| {
        let line = serde_json::json!({
            "url": url, "api_key": ADMIN_KEY, "fake_provider_url": fake.base_url(), "backend": backend, "host": host,
        });
        println!("{line}");
    };
    let skip = if options.native_only { Some("--native given".to_owned()) } else { spin::skip_reason() };
    match skip {
        None => {
            let (app, _process) = spin::start(options.backend, HTTP_COMPONENTS).await;
            let Transport::Http { base_url, .. } = &app.transport else {
                unreachable!("spin apps are served over HTTP")
            };
            ready(base_url, "spin");
            wait_for_shutdown().await;
            app.finish().await;
        }
        Some(reason) => {
            eprintln!("live-host: native host ({reason})");
            let app = TestApp::in_process(options.backend).await;
            let Transport::InProcess { host } = &app.transport else { unreachable!("in-process app") };
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await.expect("bind live host");
            let url = format!("http://{}", listener.local_addr().expect("local address"));
            let (sender, requests) = mpsc::channel::<Exchange>(256);
            let router = axum::Router::new().fallback(forward).with_state(sender);
            ready(&url, "native");
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async {
                    tokio::task::spawn_local(beat(host.fork()));
                    tokio::task::spawn_local(answer(host.fork(), requests));
                    tokio::select! {
                        served = axum::serve(listener, router) => served.expect("live host serves"),
                        () = wait_for_shutdown() => {}
                    }
                })
                .await;
            app.finish().await;
        }
    }
    std::process::ExitCode::SUCCESS
}

/// A request handed from the (multi-task) HTTP server to the thread-local
/// ledger, and the way back (a streamed body arrives through its channel).
type Exchange = (http::Request<Vec<u8>>, oneshot::Sender<http::Response<axum::body::Body>>);

async fn forward(State(sender): State<mpsc::Sender<Exchange>>, request: Request) -> Response {
    // The dashboard's files, as the `ui` component serves them under Spin.
    if let Some(page) = ui_assets::serve(request.method(), request.uri().path()) {
        return page.map(axum::body::Body::from);
    }
    let (parts, body) = request.into_parts();
    // One byte over the API's limit, so the API answers 413 itself.
    let limit = ledger::api::request::MAX_BODY_BYTES + 1;
    let body: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => vec![0; limit].into(),
    };
    let (reply, answer) = oneshot::channel();
    let unavailable = || http::Response::builder().status(503).body(axum::body::Body::empty()).expect("response");
    if sender.send((http::Request::from_parts(parts, body.to_vec()), reply)).await.is_err() {
        return unavailable();
    }
    answer.await.unwrap_or_else(|_| unavailable())
}

/// Each request on its own replica of the host, as Spin gives each request
/// a fresh instance; the replicas share the database and the key-value map.
async fn answer(host: NativeHost, mut requests: mpsc::Receiver<Exchange>) {
    while let Some((request, reply)) = requests.recv().await {
        let replica = host.fork();
        tokio::task::spawn_local(async move {
            match ledger::gateway::handle_streaming(&replica, request).await {
                ledger::gateway::Reply::Full(response) => {
                    let _ = reply.send(response.map(axum::body::Body::from));
                }
                // Events go out as the relay produces them; a client that
                // hangs up drops the body, and the relay records the run canceled.
                ledger::gateway::Reply::Events(parts, relay) => {
                    let (chunks, body) = scenarios::channel_body();
                    if reply.send(http::Response::from_parts(parts, body)).is_err() {
                        relay.abort().await;
                        return;
                    }
                    relay.pump(async |chunk| chunks.send(chunk).await.is_ok()).await;
                }
            }
        });
    }
}

async fn beat(host: NativeHost) {
    loop {
        tokio::time::sleep(BEAT_EVERY).await;
        let report = ledger::beat::run_pass(&host).await;
        for error in report.errors {
            eprintln!("live-host beat: {error}");
        }
    }
}

async fn wait_for_shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
