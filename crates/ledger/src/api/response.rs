//! Building responses: JSON bodies and the shared error body.

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::error::ApiError;

pub type Response = http::Response<Vec<u8>>;

pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_json_type(status, bytes),
        Err(e) => error(&ApiError::internal(format!("could not encode the response: {e}"))),
    }
}

pub fn ok<T: Serialize + ?Sized>(body: &T) -> Response {
    json(StatusCode::OK, body)
}

/// A 200 with a body that is already JSON.
pub fn ok_encoded(body: Vec<u8>) -> Response {
    with_json_type(StatusCode::OK, body)
}

pub fn created<T: Serialize + ?Sized>(body: &T, location: &str) -> Response {
    let mut response = json(StatusCode::CREATED, body);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

pub fn error(e: &ApiError) -> Response {
    let bytes = serde_json::to_vec(&e.body()).unwrap_or_default();
    let mut response = with_json_type(e.status, bytes);
    for (name, value) in &e.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name.clone(), value);
        }
    }
    response
}

fn with_json_type(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = http::Response::new(bytes);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
