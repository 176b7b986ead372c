//! Outbound HTTP on reqwest (plain HTTP is enough for tests and local runs).

use std::time::Duration;

use ledger::ports::{Http, HttpError};

#[derive(Clone)]
pub struct NativeHttp {
    client: reqwest::Client,
}

impl NativeHttp {
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
        NativeHttp { client }
    }
}

impl Default for NativeHttp {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

impl NativeHttp {
    /// Sends `request` and returns the response once its head arrived.
    async fn execute(&self, request: http::Request<Vec<u8>>) -> Result<reqwest::Response, HttpError> {
        let timeout = request.extensions().get::<ledger::ports::Timeout>().map(|t| t.0);
        let mut request = reqwest::Request::try_from(request).map_err(|e| HttpError::Other(e.to_string()))?;
        if let Some(timeout) = timeout {
            *request.timeout_mut() = Some(timeout);
        }
        self.client.execute(request).await.map_err(|e| {
            if e.is_timeout() {
                HttpError::Timeout
            } else if e.is_connect() {
                HttpError::Connect(e.to_string())
            } else {
                HttpError::Other(e.to_string())
            }
        })
    }
}

fn body_error(e: reqwest::Error) -> HttpError {
    if e.is_timeout() { HttpError::Timeout } else { HttpError::Other(e.to_string()) }
}

impl Http for NativeHttp {
    async fn send_streaming(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<ledger::ports::ChunkStream>, HttpError> {
        let response = self.execute(request).await?;
        let mut out = http::Response::new(());
        *out.status_mut() = response.status();
        *out.headers_mut() = response.headers().clone();
        let chunks = futures::stream::unfold(Some(response), |response| async move {
            let mut response = response?;
            match response.chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes.to_vec()), Some(response))),
                Ok(None) => None,
                Err(e) => Some((Err(body_error(e)), None)),
            }
        });
        Ok(out.map(|()| Box::pin(chunks) as ledger::ports::ChunkStream))
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, HttpError> {
        let response = self.execute(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(body_error)?;
        let mut out = http::Response::new(body.to_vec());
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}
