//! A recording loopback server: the core's handler over real HTTP, keeping
//! every request and response it answers, so the shared scenarios can be
//! run through it and their traffic checked against the spec.

use std::rc::Rc;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use ledger_native::{NativeDb, NativeHost};
use tokio::sync::{mpsc, oneshot};

use scenarios::Backend;
use scenarios::target::{Database, TestApp, Transport, test_config};

/// One request the recording server answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub scenario: String,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub request_type: Option<String>,
    pub request_encoding: Option<String>,
    pub request_body: Vec<u8>,
    pub status: u16,
    pub response_type: Option<String>,
    pub response_body: Vec<u8>,
}

pub type Log = Arc<Mutex<Vec<Exchange>>>;

type Pending = (http::Request<Vec<u8>>, oneshot::Sender<http::Response<axum::body::Body>>);

/// A fresh app on `backend` served over loopback HTTP by a recording
/// server. Must run inside a `tokio::task::LocalSet`; the server stops when
/// the returned sender is dropped.
pub async fn recorded_app(backend: Backend, scenario: &str, log: &Log) -> (TestApp, oneshot::Sender<()>) {
    let db = Database::create(backend).await;
    db.migrate().await;
    let config = test_config(&db);
    let host = NativeHost::new(db.native(), config.clone());
    let connect: Rc<dyn Fn() -> NativeDb> = match &db {
        Database::Postgres { url, .. } => {
            let url = url.clone();
            Rc::new(move || NativeDb::postgres(url.clone()))
        }
        Database::Sqlite { path } => {
            let path = path.clone();
            Rc::new(move || NativeDb::sqlite(&path))
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind recorder");
    let base_url = format!("http://{}", listener.local_addr().expect("local address"));
    let (sender, mut pending) = mpsc::channel::<Pending>(64);
    let router = axum::Router::new().fallback(forward).with_state(sender);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    tokio::spawn(async move {
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await.expect("recorder serves")
    });
    let (log, scenario) = (log.clone(), scenario.to_owned());
    tokio::task::spawn_local(async move {
        while let Some((request, reply)) = pending.recv().await {
            // Each request on its own task and its own host sharing the
            // database and key-value store, as Spin gives each request a
            // fresh instance: scenarios send concurrent requests.
            let mut replica = NativeHost::new(connect(), host.config.clone());
            replica.kv = host.kv.clone();
            let (log, scenario) = (log.clone(), scenario.clone());
            tokio::task::spawn_local(async move {
                let named = |r: &http::HeaderMap, name: http::header::HeaderName| {
                    r.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
                };
                let header = |r: &http::HeaderMap| named(r, http::header::CONTENT_TYPE);
                let mut exchange = Exchange {
                    scenario,
                    method: request.method().to_string(),
                    path: request.uri().path().to_owned(),
                    query: request
                        .uri()
                        .query()
                        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                        .unwrap_or_default(),
                    request_type: header(request.headers()),
                    request_encoding: named(request.headers(), http::header::CONTENT_ENCODING),
                    request_body: request.body().clone(),
                    status: 0,
                    response_type: None,
                    response_body: Vec::new(),
                };
                // The gateway's event streams go out as they are produced
                // (scenarios watch them arrive); the log keeps the whole body.
                match ledger::gateway::handle_streaming(&replica, request).await {
                    ledger::gateway::Reply::Full(response) => {
                        exchange.status = response.status().as_u16();
                        exchange.response_type = header(response.headers());
                        exchange.response_body = response.body().clone();
                        log.lock().expect("log").push(exchange);
                        let _ = reply.send(response.map(axum::body::Body::from));
                    }
                    ledger::gateway::Reply::Events(parts, relay) => {
                        exchange.status = parts.status.as_u16();
                        exchange.response_type = header(&parts.headers);
                        let (chunks, body) = scenarios::channel_body();
                        if reply.send(http::Response::from_parts(parts, body)).is_err() {
                            relay.abort().await;
                            return;
                        }
                        let mut sent = Vec::new();
                        relay
                            .pump(async |chunk| {
                                sent.extend_from_slice(&chunk);
                                chunks.send(chunk).await.is_ok()
                            })
                            .await;
                        exchange.response_body = sent;
                        log.lock().expect("log").push(exchange);
                    }
                }
            });
        }
    });
    let client = reqwest::Client::builder().build().expect("client");
    (TestApp { db, config, transport: Transport::Http { base_url, client } }, stop)
}

async fn forward(State(sender): State<mpsc::Sender<Pending>>, request: Request) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let limit = ledger::api::request::MAX_BODY_BYTES + 1;
    let body: Bytes = axum::body::to_bytes(body, limit).await.unwrap_or_else(|_| vec![0; limit].into());
    let (reply, answer) = oneshot::channel();
    let gone = || http::Response::builder().status(599).body(axum::body::Body::empty()).expect("response");
    if sender.send((http::Request::from_parts(parts, body.to_vec()), reply)).await.is_err() {
        return gone();
    }
    answer.await.unwrap_or_else(|_| gone())
}
