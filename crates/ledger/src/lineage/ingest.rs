//! Batches of spans: recognising the format, validating span by span, and
//! writing a batch atomically together with what it says about its traces.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;

use super::otlp;
use super::prela::{self, Inherited};
use super::span::{self, Rejection, SpanRecord};
use super::time::parse_json_time_us;
use crate::error::ApiError;
use crate::ports::{Db, DbError};
use crate::store::{self, traces::TraceDelta};

/// Most spans accepted in one request.
pub const MAX_BATCH_SPANS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prela-style traces and plain span lists.
    Native,
    /// OTLP/HTTP JSON.
    Otlp,
}

/// Trace-level fields sent with a Prela-style trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceFields {
    pub trace_id: Option<String>,
    pub service_name: Option<String>,
    pub status: Option<String>,
    pub started_at_us: Option<i64>,
    pub ended_at_us: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Batch {
    pub format: Format,
    pub trace: TraceFields,
    /// Valid spans, one per (trace_id, span_id): a later copy in the same
    /// batch replaces an earlier one.
    pub spans: Vec<SpanRecord>,
    /// How many spans were valid (copies included).
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
    /// The body asked for all-or-nothing (`"atomic": true`).
    pub atomic: bool,
}

fn too_many(n: usize) -> ApiError {
    ApiError::new(
        http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("a batch holds at most {MAX_BATCH_SPANS} spans; this one has {n}"),
    )
}

/// Recognises and parses a request body: OTLP (`resourceSpans`), a
/// Prela-style trace or `{spans: [...]}`, or a bare array of spans.
///
/// # Errors
/// 422 (or 400 for OTLP) when the body's structure or a trace-level field
/// is wrong, 413 over [`MAX_BATCH_SPANS`]. Bad spans are not errors: they
/// are listed in [`Batch::rejected`].
pub fn parse_body(body: &Json) -> Result<Batch, ApiError> {
    if body.get("resourceSpans").is_some() {
        let parsed = otlp::parse_request(body).map_err(ApiError::bad_request)?;
        if parsed.len() > MAX_BATCH_SPANS {
            return Err(too_many(parsed.len()));
        }
        return Ok(collect(Format::Otlp, TraceFields::default(), parsed, false));
    }
    let (list, trace, atomic) = match body {
        Json::Array(list) => (list, TraceFields::default(), false),
        Json::Object(obj) => {
            let list = obj
                .get("spans")
                .and_then(Json::as_array)
                .ok_or_else(|| ApiError::invalid("spans", "must be an array of spans"))?;
            let atomic = match obj.get("atomic") {
                None | Some(Json::Null) => false,
                Some(Json::Bool(b)) => *b,
                Some(_) => return Err(ApiError::invalid("atomic", "must be true or false")),
            };
            (list, trace_fields(obj)?, atomic)
        }
        _ => {
            return Err(ApiError::invalid(
                "spans",
                "the body must be a trace, {\"spans\": [...]} or an array of spans",
            ));
        }
    };
    if list.len() > MAX_BATCH_SPANS {
        return Err(too_many(list.len()));
    }
    let inherited = Inherited { trace_id: trace.trace_id.clone(), service_name: trace.service_name.clone() };
    let parsed = list.iter().map(|s| prela::parse_span(s, &inherited)).collect();
    Ok(collect(Format::Native, trace, parsed, atomic))
}

fn trace_fields(obj: &serde_json::Map<String, Json>) -> Result<TraceFields, ApiError> {
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match obj.get(field) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(field, "must be a string")),
        }
    };
    let time = |field: &str| -> Result<Option<i64>, ApiError> {
        match obj.get(field) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => parse_json_time_us(v).map(Some).map_err(|e| ApiError::invalid(field, e)),
        }
    };
    let trace_id = text("trace_id")?;
    if let Some(id) = &trace_id {
        span::check_id("trace_id", id).map_err(|e| ApiError::invalid("trace_id", e))?;
    }
    let status = match text("status")? {
        None => None,
        Some(raw) => Some(
            span::normalize_status(&raw)
                .ok_or_else(|| ApiError::invalid("status", format!("`{raw}` is not a known status")))?
                .to_owned(),
        ),
    };
    let started_at_us = time("started_at")?;
    let mut ended_at_us = time("completed_at")?.or(time("ended_at")?);
    if ended_at_us.is_none()
        && let (Some(start), Some(d)) = (started_at_us, obj.get("duration_ms").and_then(Json::as_f64))
        && d.is_finite()
        && d >= 0.0
    {
        let end = start.checked_add((d * 1000.0).round() as i64);
        ended_at_us = Some(end.ok_or_else(|| ApiError::invalid("duration_ms", "is too large"))?);
    }
    if let (Some(start), Some(end)) = (started_at_us, ended_at_us)
        && end < start
    {
        return Err(ApiError::invalid("completed_at", "must not be before started_at"));
    }
    Ok(TraceFields { trace_id, service_name: text("service_name")?, status, started_at_us, ended_at_us })
}

fn collect(format: Format, trace: TraceFields, parsed: Vec<Result<SpanRecord, String>>, atomic: bool) -> Batch {
    let mut rejected = Vec::new();
    let mut positions: HashMap<(String, String), usize> = HashMap::new();
    let mut spans: Vec<SpanRecord> = Vec::new();
    let mut accepted = 0;
    for (index, result) in parsed.into_iter().enumerate() {
        match result {
            Ok(s) => {
                accepted += 1;
                match positions.get(&(s.trace_id.clone(), s.span_id.clone())) {
                    Some(&at) => spans[at] = s,
                    None => {
                        positions.insert((s.trace_id.clone(), s.span_id.clone()), spans.len());
                        spans.push(s);
                    }
                }
            }
            Err(reason) => rejected.push(Rejection { index, reason }),
        }
    }
    Batch { format, trace, spans, accepted, rejected, atomic }
}

/// Writes spans and folds what they say into their traces' summaries, all
/// or nothing. `trace` carries explicit trace-level fields (they apply to
/// `trace.trace_id` only). Returns the touched trace ids, sorted.
///
/// Concurrent and repeated batches for one trace are safe: each folds only
/// its own spans into the trace row, in ways that commute (see
/// [`TraceDelta`]).
///
/// # Errors
/// Database errors; nothing is written then.
pub async fn write<D: Db>(
    db: &D,
    spans: &[SpanRecord],
    trace: &TraceFields,
    now_ms: i64,
) -> Result<Vec<String>, DbError> {
    if spans.is_empty() {
        return Ok(Vec::new());
    }
    // Spans in key order, so concurrent batches also lock span rows in one order.
    let mut ordered: Vec<&SpanRecord> = spans.iter().collect();
    ordered.sort_by(|a, b| (&a.trace_id, &a.span_id).cmp(&(&b.trace_id, &b.span_id)));
    ordered.dedup_by(|later, earlier| {
        let same = later.trace_id == earlier.trace_id && later.span_id == earlier.span_id;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    let deltas = deltas(&ordered, trace);
    store::spans::write(db, &ordered, &deltas, now_ms).await?;
    Ok(deltas.into_iter().map(|d| d.trace_id).collect())
}

/// What a batch says about each of its traces, sorted by trace id. A trace
/// with an error span reads `error` whatever else is said of it.
pub fn deltas(spans: &[&SpanRecord], trace: &TraceFields) -> Vec<TraceDelta> {
    #[derive(Default)]
    struct Seen<'a> {
        has_error: bool,
        started_at_us: Option<i64>,
        ended_at_us: Option<i64>,
        any_service: Option<&'a str>,
        root: Option<&'a SpanRecord>,
    }
    let mut by_trace: BTreeMap<&str, Seen<'_>> = BTreeMap::new();
    for s in spans {
        let seen = by_trace.entry(&s.trace_id).or_default();
        seen.has_error |= s.status == "error";
        seen.started_at_us = Some(seen.started_at_us.map_or(s.started_at_us, |t| t.min(s.started_at_us)));
        seen.ended_at_us = seen.ended_at_us.max(s.ended_at_us);
        seen.any_service = seen.any_service.max(s.service_name.as_deref());
        let earlier = |r: &SpanRecord| (s.started_at_us, &s.span_id) < (r.started_at_us, &r.span_id);
        if s.parent_span_id.is_none() && seen.root.is_none_or(earlier) {
            seen.root = Some(s);
        }
    }
    by_trace
        .into_iter()
        .map(|(trace_id, seen)| {
            let explicit = (trace.trace_id.as_deref() == Some(trace_id)).then_some(trace);
            let explicit_status = explicit.and_then(|t| t.status.clone());
            let root = seen.root;
            let has_error = seen.has_error || explicit_status.as_deref() == Some("error");
            TraceDelta {
                trace_id: trace_id.to_owned(),
                service_name: explicit
                    .and_then(|t| t.service_name.clone())
                    .or_else(|| root.and_then(|r| r.service_name.clone()))
                    .or_else(|| seen.any_service.map(str::to_owned)),
                name: root.map(|r| r.name.clone()),
                has_error,
                status: if has_error {
                    Some("error".to_owned())
                } else {
                    explicit_status.or_else(|| root.map(|r| r.status.clone()))
                },
                started_at_us: [seen.started_at_us, explicit.and_then(|t| t.started_at_us)].into_iter().flatten().min(),
                ended_at_us: [seen.ended_at_us, explicit.and_then(|t| t.ended_at_us)].into_iter().flatten().max(),
                root_started_at_us: root.map(|r| r.started_at_us),
                root_span_id: root.map(|r| r.span_id.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_are_recognised_and_copies_collapse() {
        let b = parse_body(&json!({
            "trace_id": "t1", "service_name": "svc", "status": "success", "atomic": true,
            "started_at": "2024-05-01T10:00:00Z", "duration_ms": 20,
            "spans": [
                {"span_id": "a", "name": "first", "started_at": 1714557600},
                {"span_id": "b", "name": "bad"},
                {"span_id": "a", "name": "again", "started_at": 1714557600}
            ]
        }))
        .unwrap();
        assert_eq!((b.format, b.accepted, b.spans.len(), b.atomic), (Format::Native, 2, 1, true));
        assert_eq!(b.spans[0].name, "again");
        assert_eq!(b.rejected, vec![Rejection { index: 1, reason: "started_at: is required".into() }]);
        assert_eq!(b.trace.status.as_deref(), Some("ok"));
        assert_eq!(b.trace.ended_at_us.unwrap() - b.trace.started_at_us.unwrap(), 20_000);

        let b = parse_body(&json!([{"trace_id": "t", "span_id": "a", "name": "n", "started_at": 1}])).unwrap();
        assert_eq!((b.accepted, b.rejected.len()), (1, 0));
        assert_eq!(parse_body(&json!({"resourceSpans": []})).unwrap().format, Format::Otlp);
        assert_eq!(parse_body(&json!({"nothing": 1})).unwrap_err().status, 422);
        let many: Vec<Json> = (0..=MAX_BATCH_SPANS).map(|_| json!({})).collect();
        assert_eq!(parse_body(&Json::Array(many)).unwrap_err().status, 413);
    }

    /// Found by fuzzing: a trace duration past i64 microseconds overflowed its end time.
    #[test]
    fn a_huge_trace_duration_is_refused() {
        let body = json!({"trace_id": "t1", "started_at": "2024-05-01T10:00:00Z", "duration_ms": 9.8e18, "spans": []});
        let e = parse_body(&body).unwrap_err();
        assert_eq!((e.status.as_u16(), e.details.unwrap()["field"].as_str()), (422, Some("duration_ms")));
    }

    #[test]
    fn deltas_take_the_earliest_root_and_widen_bounds() {
        let span = |trace: &str, id: &str, parent: Option<&str>, start: i64, status: &str| SpanRecord {
            trace_id: trace.into(),
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            name: format!("n-{id}"),
            service_name: Some(format!("svc-{id}")),
            status: status.into(),
            started_at_us: start,
            ended_at_us: Some(start + 10),
            ..crate::lineage::span::tests::span()
        };
        let spans = [
            span("t1", "b", None, 20, "ok"),
            span("t1", "a", None, 20, "unset"),
            span("t1", "c", Some("a"), 5, "error"),
            span("t2", "x", Some("p"), 7, "ok"),
        ];
        let refs: Vec<&SpanRecord> = spans.iter().collect();
        let explicit = TraceFields { trace_id: Some("t2".into()), status: Some("ok".into()), ..Default::default() };
        let d = deltas(&refs, &explicit);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].trace_id.as_str(), d[0].name.as_deref(), d[0].status.as_deref()),
            ("t1", Some("n-a"), Some("error"))
        );
        assert_eq!((d[0].root_started_at_us, d[0].root_span_id.as_deref()), (Some(20), Some("a")));
        assert_eq!((d[0].started_at_us, d[0].ended_at_us, d[0].has_error), (Some(5), Some(30), true));
        assert_eq!(d[0].service_name.as_deref(), Some("svc-a"));
        assert_eq!((d[1].name.as_deref(), d[1].root_span_id.as_deref()), (None, None));
        assert_eq!((d[1].status.as_deref(), d[1].service_name.as_deref()), (Some("ok"), Some("svc-x")));
    }
}
