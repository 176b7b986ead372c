//! `/v1/traces` and `/v1/spans`: span ingest (Prela-style JSON and OTLP/JSON)
//! and trace queries.

use serde_json::{Value as Json, json};

use super::request::{self, ApiRequest};
use super::response::{self, Response};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::lineage::ingest::{self, Format};
use crate::lineage::time::{Rfc3339Us, format_us};
use crate::lineage::{otlp_proto, tree};
use crate::ports::Host;
use crate::store::spans as span_store;
use crate::store::traces::{self as trace_store, ListFilter, TraceRow};

/// Most spans returned with one trace.
const MAX_TRACE_SPANS: i64 = 10_000;
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    match segs {
        ["traces"] => by_method!(req, {
            GET => { who.require(Scope::Read)?; list(host, req).await },
            POST => { who.require(Scope::Write)?; ingest(host, req).await },
        }),
        ["spans"] => by_method!(req, { POST => { who.require(Scope::Write)?; ingest(host, req).await } }),
        ["traces", trace_id] => {
            by_method!(req, { GET => { who.require(Scope::Read)?; get(host, &decode_segment(trace_id)?).await } })
        }
        _ => Err(ApiError::not_found(format!("no route for {}", req.path))),
    }
}

/// Media types of OTLP/HTTP protobuf.
const PROTOBUF_TYPES: [&str; 2] = ["application/x-protobuf", "application/protobuf"];

/// Stores a batch sent as JSON or (OTLP only) protobuf, either possibly
/// gzipped. A protobuf request is answered in protobuf, errors included,
/// as OTLP/HTTP requires.
async fn ingest<H: Host>(host: &H, req: &ApiRequest) -> ApiResult<Response> {
    let protobuf = req.content_type().is_some_and(|ct| PROTOBUF_TYPES.contains(&ct.as_str()));
    if !protobuf {
        req.require_json_type()?;
        let body = request::parse_json_value(&req.decoded_body()?)?;
        return store_batch(host, req, &body, false).await;
    }
    let stored = async {
        let body = otlp_proto::request_to_json(&req.decoded_body()?).map_err(ApiError::bad_request)?;
        request::reject_nul_in(&body)?;
        store_batch(host, req, &body, true).await
    };
    Ok(stored.await.unwrap_or_else(|e| {
        // The JSON error's status and headers (Retry-After...), a protobuf body.
        let mut response = response::error(&e);
        *response.body_mut() = otlp_proto::rpc_status(e.status.as_u16(), e.message.clone());
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(PROTOBUF_TYPES[0]));
        response
    }))
}

fn protobuf_response(status: http::StatusCode, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(PROTOBUF_TYPES[0]));
    response
}

/// Invalid spans are reported by index and the rest stored, unless the
/// client asked for all-or-nothing.
async fn store_batch<H: Host>(host: &H, req: &ApiRequest, body: &Json, protobuf: bool) -> ApiResult<Response> {
    let batch = ingest::parse_body(body)?;
    let atomic = batch.atomic || req.query_bool("atomic")?;
    let refused = |message: String| {
        let status = match batch.format {
            // OTLP/HTTP: permanently invalid data is a 400.
            Format::Otlp => http::StatusCode::BAD_REQUEST,
            Format::Native => http::StatusCode::UNPROCESSABLE_ENTITY,
        };
        Err(ApiError::new(status, "validation_failed", message)
            .with_details(json!({ "atomic": atomic, "rejected": batch.rejected })))
    };
    if !batch.rejected.is_empty() {
        if atomic {
            return refused(format!("{} invalid span(s); nothing was stored", batch.rejected.len()));
        }
        if batch.accepted == 0 {
            return refused("no span in the batch is valid; nothing was stored".into());
        }
    }
    let trace_ids = ingest::write(host.db(), &batch.spans, &batch.trace, host.clock().now_ms()).await?;
    let reasons = || -> String {
        let reasons: Vec<String> =
            batch.rejected.iter().take(5).map(|r| format!("span {}: {}", r.index, r.reason)).collect();
        reasons.join("; ")
    };
    match batch.format {
        Format::Otlp if protobuf => {
            Ok(protobuf_response(http::StatusCode::OK, otlp_proto::export_response(batch.rejected.len(), reasons())))
        }
        Format::Otlp if batch.rejected.is_empty() => Ok(response::ok(&json!({}))),
        Format::Otlp => {
            Ok(response::ok(&json!({ "partialSuccess": {
                // OTLP/JSON writes 64-bit integers as strings.
                "rejectedSpans": batch.rejected.len().to_string(),
                "errorMessage": reasons(),
            }})))
        }
        Format::Native => {
            let trace_id =
                batch.trace.trace_id.clone().or_else(|| (trace_ids.len() == 1).then(|| trace_ids[0].clone()));
            Ok(response::ok(&json!({
                "status": "accepted",
                "trace_id": trace_id,
                "trace_ids": trace_ids,
                "accepted": batch.accepted,
                "rejected": batch.rejected,
            })))
        }
    }
}

/// Decodes `%XX` escapes in a path segment.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A path segment with its escapes decoded (ids and names may hold any character).
pub(super) fn decode_segment(raw: &str) -> ApiResult<String> {
    let decoded =
        percent_decode(raw).ok_or_else(|| ApiError::bad_request("the path is not valid UTF-8 once decoded"))?;
    if decoded.contains('\0') {
        return Err(super::request::nul_error("path"));
    }
    Ok(decoded)
}

fn trace_summary(t: &TraceRow) -> Json {
    json!({
        "trace_id": t.trace_id,
        "service_name": t.service_name,
        "name": t.name,
        "status": t.status,
        "has_error": t.has_error,
        "started_at": t.started_at_us.map(format_us),
        "ended_at": t.ended_at_us.map(format_us),
        "duration_ms": duration_ms(t),
        "span_count": t.span_count,
    })
}

fn duration_ms(t: &TraceRow) -> Option<f64> {
    t.started_at_us.zip(t.ended_at_us).map(|(s, e)| (e - s) as f64 / 1000.0)
}

/// `GET /v1/traces/{id}`: the trace's summary and its span tree, serialized
/// straight from borrowed data. Fields are in alphabetical order, the order
/// responses have always shown.
#[derive(serde::Serialize)]
struct TraceTree<'a> {
    duration_ms: Option<f64>,
    ended_at: Option<Rfc3339Us>,
    has_error: bool,
    name: Option<&'a str>,
    orphan_count: usize,
    service_name: Option<&'a str>,
    span_count: i64,
    spans: Vec<tree::SpanNode<'a>>,
    started_at: Option<Rfc3339Us>,
    status: Option<&'a str>,
    trace_id: &'a str,
    truncated: bool,
}

async fn get<H: Host>(host: &H, trace_id: &str) -> ApiResult<Response> {
    // Both reads are sent at once: on one connection they travel pipelined.
    let (stored, spans) = futures::join!(
        trace_store::get(host.db(), trace_id),
        span_store::for_trace(host.db(), trace_id, MAX_TRACE_SPANS + 1)
    );
    let (stored, mut spans) = (stored?, spans?);
    if spans.is_empty() && stored.is_none() {
        return Err(ApiError::not_found(format!("no trace with id `{trace_id}`")));
    }
    let truncated = spans.len() as i64 > MAX_TRACE_SPANS;
    spans.truncate(MAX_TRACE_SPANS as usize);
    // Spans written without a summary row (or before it) still make a trace.
    let summary = stored.unwrap_or_else(|| TraceRow {
        trace_id: trace_id.to_owned(),
        service_name: spans.iter().find_map(|s| s.service_name.clone()),
        name: spans.iter().find(|s| s.parent_span_id.is_none()).map(|s| s.name.clone()),
        status: None,
        has_error: spans.iter().any(|s| s.status == "error"),
        started_at_us: spans.iter().map(|s| s.started_at_us).min(),
        ended_at_us: spans.iter().filter_map(|s| s.ended_at_us).max(),
        span_count: spans.len() as i64,
        created_at: 0,
        updated_at: 0,
    });
    let (roots, orphan_count) = tree::build(&spans);
    Ok(response::ok(&TraceTree {
        duration_ms: duration_ms(&summary),
        ended_at: summary.ended_at_us.map(Rfc3339Us),
        has_error: summary.has_error,
        name: summary.name.as_deref(),
        orphan_count,
        service_name: summary.service_name.as_deref(),
        span_count: summary.span_count,
        spans: roots,
        started_at: summary.started_at_us.map(Rfc3339Us),
        status: summary.status.as_deref(),
        trace_id: &summary.trace_id,
        truncated,
    }))
}

fn encode_cursor(t: &TraceRow) -> Option<String> {
    t.started_at_us.map(|s| super::cursor::encode(&[&s.to_string(), &t.trace_id]))
}

async fn list<H: Host>(host: &H, req: &ApiRequest) -> ApiResult<Response> {
    let limit = req.query_parsed::<i64>("limit")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    let status = match req.query_param("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(
            crate::lineage::span::normalize_status(raw)
                .ok_or_else(|| ApiError::invalid("status", "must be unset, ok or error"))?
                .to_owned(),
        ),
    };
    let filter = ListFilter {
        service: req.query_param("service").filter(|s| !s.is_empty()).map(str::to_owned),
        status,
        has_error: req.query_parsed::<bool>("has_error")?,
        since_us: req.query_time_ms("since")?.map(|ms| ms * 1000),
        until_us: req.query_time_ms("until")?.map(|ms| ms * 1000),
        before: super::cursor::time_and_id(req)?,
        limit: limit + 1,
    };
    let mut rows = trace_store::list(host.db(), &filter).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().and_then(encode_cursor)
    } else {
        None
    };
    let data: Vec<Json> = rows.iter().map(trace_summary).collect();
    Ok(response::ok(&json!({ "data": data, "next_cursor": next_cursor })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(super::percent_decode("support%20bot%2Fv2").as_deref(), Some("support bot/v2"));
        assert_eq!(super::percent_decode("100%").as_deref(), Some("100%"));
        assert_eq!(super::percent_decode("%FF"), None);
    }
}
