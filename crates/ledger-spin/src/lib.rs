//! Adapters from the core's ports to Spin 4 host interfaces. Components call
//! [`serve`] (HTTP) or build a [`SpinHost`] themselves (worker, beat).

mod db;
mod host;
mod outbound;
mod pg_socket;

pub use db::SpinDb;
pub use host::{SpinHost, SpinKv, SpinQueue};
pub use outbound::SpinHttp;

use std::convert::Infallible;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use http_body::Frame;
use http_body_util::{Either, Full, StreamBody};
use ledger::api::request::MAX_BODY_BYTES;
use ledger::error::ApiError;
use spin_sdk::http::body::IncomingBodyExt;

/// A response body: whole, or the gateway's event stream as it is produced.
pub type Body = Either<Full<Bytes>, StreamBody<futures::stream::Map<mpsc::Receiver<Vec<u8>>, ChunkToFrame>>>;

type ChunkToFrame = fn(Vec<u8>) -> Result<Frame<Bytes>, Infallible>;

fn frame(chunk: Vec<u8>) -> Result<Frame<Bytes>, Infallible> {
    Ok(Frame::data(Bytes::from(chunk)))
}

fn whole(response: ledger::api::response::Response) -> http::Response<Body> {
    response.map(|body| Either::Left(Full::new(Bytes::from(body))))
}

/// The whole life of an HTTP request: read the body (bounded), build the
/// host from Spin variables, hand over to the core.
pub async fn serve(req: spin_sdk::http::Request) -> http::Response<Body> {
    let req = match read(req).await {
        Ok(req) => req,
        Err(e) => return whole(ledger::api::response::error(&e)),
    };
    let host = match SpinHost::from_variables().await {
        Ok(host) => host,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return whole(ledger::api::response::error(&ApiError::unavailable(format!("configuration error: {e}"))));
        }
    };
    if ledger::gateway::call_of(&req).is_none() {
        return whole(ledger::handle(&host, req).await);
    }
    // A gateway call may answer with events: it runs in a task that owns the
    // host, so the body can be written after this function has returned.
    let (head, answer) = futures::channel::oneshot::channel();
    spin_sdk::wasip3::spawn(async move {
        match ledger::gateway::handle_streaming(&host, req).await {
            ledger::gateway::Reply::Full(response) => {
                let _ = head.send(whole(response));
            }
            ledger::gateway::Reply::Events(parts, relay) => {
                let (mut chunks, body) = mpsc::channel::<Vec<u8>>(8);
                let body = Either::Right(StreamBody::new(body.map(frame as ChunkToFrame)));
                if head.send(http::Response::from_parts(parts, body)).is_err() {
                    relay.abort().await;
                    return;
                }
                // A client that hangs up drops the body: the run is recorded canceled.
                relay.pump(async |chunk| chunks.send(chunk).await.is_ok()).await;
            }
        }
    });
    answer.await.unwrap_or_else(|_| {
        whole(ledger::api::response::error(&ApiError::internal("the gateway call ended without an answer")))
    })
}

async fn read(req: spin_sdk::http::Request) -> Result<http::Request<Vec<u8>>, ApiError> {
    use futures::StreamExt;
    let (parts, body) = req.into_parts();
    // Read up to one byte past the limit: a client that sent a little too
    // much still gets its 413 on an intact connection.
    let mut bytes = Vec::new();
    let mut stream = body.stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("could not read the body: {e:?}")))?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
        }
    }
    Ok(http::Request::from_parts(parts, bytes))
}

/// The body of every HTTP component: export a `wasi:http` handler that
/// serves the core. The component crate must depend on `spin-sdk`.
#[macro_export]
macro_rules! http_component {
    () => {
        #[spin_sdk::http_service]
        async fn handle(req: spin_sdk::http::Request) -> impl spin_sdk::http::IntoResponse {
            $crate::serve(req).await
        }
    };
}

/// The Redis worker's body: run the execution whose id is `payload`.
///
/// # Errors
/// Configuration or database errors, reported to Spin's log; the beat
/// recovers the run once its lease expires.
pub async fn run_queued(payload: &[u8]) -> Result<(), String> {
    db::use_host_driver();
    let host = SpinHost::from_variables().await?;
    ledger::executions::worker::handle_message(&host, payload).await.map(drop).map_err(|e| e.to_string())
}

/// The cron component's body: one beat pass.
///
/// # Errors
/// The parts of the pass that failed; the next pass retries them.
pub async fn run_beat() -> Result<(), String> {
    db::use_host_driver();
    let host = SpinHost::from_variables().await?;
    let report = ledger::beat::run_pass(&host).await;
    if report.errors.is_empty() { Ok(()) } else { Err(report.errors.join("; ")) }
}
