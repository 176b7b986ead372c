//! `GET /health`: public, no secrets. 200 while the API can serve, 503 when
//! the database is down or its schema is behind this build.

use std::time::Instant;

use http::StatusCode;
use serde_json::{Value as Json, json};

use super::response::{self, Response};
use crate::migrations;
use crate::ports::{Db, Host, Queue};

pub async fn check<H: Host>(host: &H) -> Response {
    let config = host.config();
    let db = host.db();

    // One query answers both: the database is reachable, and at which schema version.
    let started = Instant::now();
    let current = migrations::current_version(db).await;
    let db_ms = elapsed_ms(started);
    let expected = migrations::expected_version(db.dialect());
    let (database, migrations) = match &current {
        Ok(current) => (
            json!({ "status": "ok", "dialect": db.dialect().as_str(), "latency_ms": db_ms }),
            json!({
                "status": if *current >= expected { "ok" } else { "pending" },
                "current": current,
                "expected": expected,
            }),
        ),
        Err(e) => (
            // The kind only: driver messages can carry connection details.
            json!({ "status": "error", "dialect": db.dialect().as_str(), "latency_ms": db_ms, "error": error_kind(e) }),
            json!({ "status": "unknown", "expected": expected }),
        ),
    };

    let redis = match host.queue() {
        None => json!({ "status": "not_configured" }),
        Some(queue) => {
            let started = Instant::now();
            match queue.ping().await {
                Ok(()) => json!({ "status": "ok", "latency_ms": elapsed_ms(started) }),
                Err(e) => json!({ "status": "error", "latency_ms": elapsed_ms(started), "error": e }),
            }
        }
    };

    let providers = json!({
        "status": "ok",
        "openai": { "configured": !config.openai_api_key.is_empty(), "base_url": origin(&config.openai_base_url) },
        "anthropic": { "configured": !config.anthropic_api_key.is_empty(), "base_url": origin(&config.anthropic_base_url) },
        "mock": { "configured": true },
    });

    let usable = database["status"] == "ok" && migrations["status"] == "ok";
    let degraded = redis["status"] == "error";
    let status = match (usable, degraded) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "checks": { "database": database, "migrations": migrations, "redis": redis, "providers": providers },
    });
    let code = if usable { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut response = response::json(code, &body);
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

fn error_kind(e: &crate::ports::DbError) -> &'static str {
    match e {
        crate::ports::DbError::Unavailable(_) => "unreachable",
        _ => "query failed",
    }
}

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// Scheme and host of a base URL, never its path or credentials.
fn origin(url: &str) -> Json {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            json!(format!("{scheme}://{host}"))
        }
        None => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn origin_drops_credentials_and_path() {
        assert_eq!(super::origin("https://user:secret@api.example.com/v1"), "https://api.example.com");
    }
}
