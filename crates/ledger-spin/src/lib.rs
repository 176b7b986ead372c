//! Adapters from the core's ports to Spin 4 host interfaces. Components call
//! [`serve`] (HTTP) or build a [`SpinHost`] themselves (worker, beat).

mod db;
mod host;
mod outbound;
mod pg_socket;

pub use db::SpinDb;
pub use host::{SpinHost, SpinKv, SpinQueue};
pub use outbound::SpinHttp;

use bytes::Bytes;
use http_body_util::Full;
use ledger::api::request::MAX_BODY_BYTES;
use ledger::error::ApiError;
use spin_sdk::http::body::IncomingBodyExt;

/// The whole life of an HTTP request: read the body (bounded), build the
/// host from Spin variables, hand over to the core.
pub async fn serve(req: spin_sdk::http::Request) -> http::Response<Full<Bytes>> {
    let response = match read(req).await {
        Ok(req) => match SpinHost::from_variables().await {
            Ok(host) => ledger::handle(&host, req).await,
            Err(e) => {
                eprintln!("configuration error: {e}");
                ledger::api::response::error(&ApiError::unavailable(format!("configuration error: {e}")))
            }
        },
        Err(e) => ledger::api::response::error(&e),
    };
    response.map(|body| Full::new(Bytes::from(body)))
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
