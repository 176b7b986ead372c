//! Outbound HTTP through Spin (`allowed_outbound_hosts` applies).

use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use http_body_util::Full;
use ledger::ports::{ChunkStream, Http, HttpError, Timeout};
use spin_sdk::http::body::IncomingBodyExt;

pub struct SpinHttp;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Http for SpinHttp {
    /// The body is read as the provider sends it (an event stream); the
    /// timeout bounds the wait for the head and then for each chunk, so a
    /// provider that stops sending ends the stream with a timeout.
    async fn send_streaming(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<ChunkStream>, HttpError> {
        use futures::StreamExt;
        let timeout = request.extensions().get::<Timeout>().map_or(DEFAULT_TIMEOUT, |t| t.0);
        let (parts, body) = self.head(request).await?.into_parts();
        let chunks = futures::stream::unfold(Some(Box::pin(body.stream())), move |stream| async move {
            let mut stream = stream?;
            let timer = spin_sdk::wasip3::clocks::monotonic_clock::wait_for(timeout.as_nanos() as u64);
            let next = futures::select! {
                next = stream.next().fuse() => next,
                () = timer.fuse() => return Some((Err(HttpError::Timeout), None)),
            };
            match next? {
                Ok(chunk) => Some((Ok(chunk.to_vec()), Some(stream))),
                Err(e) => Some((Err(classify(format!("{e:?}"))), None)),
            }
        });
        Ok(http::Response::from_parts(parts, Box::pin(chunks) as ChunkStream))
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, HttpError> {
        let timeout = request.extensions().get::<Timeout>().map_or(DEFAULT_TIMEOUT, |t| t.0);
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let exchange = async {
            let response = spin_sdk::http::send(request).await.map_err(|e| classify(format!("{e:?}")))?;
            let (parts, body) = response.into_parts();
            let bytes = body.bytes().await.map_err(|e| classify(format!("{e:?}")))?;
            Ok(http::Response::from_parts(parts, bytes.to_vec()))
        };
        let timer = spin_sdk::wasip3::clocks::monotonic_clock::wait_for(timeout.as_nanos() as u64);
        futures::select! {
            result = exchange.fuse() => result,
            () = timer.fuse() => Err(HttpError::Timeout),
        }
    }
}

impl SpinHttp {
    /// The response once its head arrived; the provider's timeout bounds the wait for it.
    async fn head(&self, request: http::Request<Vec<u8>>) -> Result<spin_sdk::http::Response, HttpError> {
        let timeout = request.extensions().get::<Timeout>().map_or(DEFAULT_TIMEOUT, |t| t.0);
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let exchange = async { spin_sdk::http::send(request).await.map_err(|e| classify(format!("{e:?}"))) };
        let timer = spin_sdk::wasip3::clocks::monotonic_clock::wait_for(timeout.as_nanos() as u64);
        futures::select! {
            result = exchange.fuse() => result,
            () = timer.fuse() => Err(HttpError::Timeout),
        }
    }
}

fn classify(message: String) -> HttpError {
    if message.contains("Timeout") {
        HttpError::Timeout
    } else if message.contains("Connection") || message.contains("Dns") {
        HttpError::Connect(message)
    } else {
        HttpError::Other(message)
    }
}
