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

impl Http for NativeHttp {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, HttpError> {
        let timeout = request.extensions().get::<ledger::ports::Timeout>().map(|t| t.0);
        let mut request = reqwest::Request::try_from(request).map_err(|e| HttpError::Other(e.to_string()))?;
        if let Some(timeout) = timeout {
            *request.timeout_mut() = Some(timeout);
        }
        let response = self.client.execute(request).await.map_err(|e| {
            if e.is_timeout() {
                HttpError::Timeout
            } else if e.is_connect() {
                HttpError::Connect(e.to_string())
            } else {
                HttpError::Other(e.to_string())
            }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| if e.is_timeout() { HttpError::Timeout } else { HttpError::Other(e.to_string()) })?;
        let mut out = http::Response::new(body.to_vec());
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}
