//! Invariants checked on generated inputs: the checksum's canonical form,
//! histogram merging, cursors, the rollup fold and RFC 3339 timestamps.

use std::collections::BTreeMap;

use ledger::analytics::histogram::{BOUNDS_MS, Histogram};
use ledger::analytics::rollup::{self, DAY_MS, HOUR_MS};
use ledger::analytics::stats::Stats;
use ledger::api::cursor;
use ledger::lineage::time::{format_ms, format_us, parse_json_time_us, parse_query_ms, parse_rfc3339_us};
use ledger::registry::checksum;
use ledger::registry::{ChatMessage, PromptBody};
use ledger::store::rollups::RollupRow;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

/// 10000-01-01T00:00:00Z, the parsers' exclusive upper bound.
const MAX_US: i64 = 253_402_300_800_000_000;

// ---------------------------------------------------------------------------
// Checksum canonical form

/// JSON values with the shapes configs have: nested objects and arrays,
/// integers, decimals, strings with escapes and non-ASCII text.
///
/// Decimals have at most 15 significant digits, which serde_json reads
/// back exactly; see [`full_precision_floats_survive_a_round_trip`].
fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        (-1_000_000_000_000i64..1_000_000_000_000).prop_map(|n| Json::from(n as f64 / 1000.0)),
        "[a-z\"\\\\\n é€😀]{0,12}".prop_map(Json::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map("[a-zA-Z_é]{0,6}", inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// `value` written as JSON text with every object's keys in the order
/// `order` (a seed) shuffles them into, and integers that fit spelled as
/// floats where `floats` says so.
fn spell(value: &Json, order: u64, floats: bool, out: &mut String) {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            let n = entries.len().max(1);
            entries.rotate_left((order as usize) % n);
            if order % 2 == 1 {
                entries.reverse();
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Json::from(key.as_str()).to_string());
                out.push_str(": ");
                spell(item, order / 3 + i as u64, floats, out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                spell(item, order.wrapping_add(i as u64), floats, out);
            }
            out.push(']');
        }
        Json::Number(n) if floats && n.as_i64().is_some_and(|i| i.abs() < 1 << 52) => {
            out.push_str(&format!("{}.0", n.as_i64().unwrap_or_default()));
        }
        other => out.push_str(&other.to_string()),
    }
}

fn canonical(value: &Json) -> String {
    let mut out = String::new();
    checksum::write_canonical(value, &mut out);
    out
}

proptest! {
    #[test]
    fn canonical_form_ignores_key_order_and_number_spelling(value in json_value(), a in any::<u64>(), b in any::<u64>()) {
        let (mut first, mut second) = (String::new(), String::new());
        spell(&value, a, false, &mut first);
        spell(&value, b, true, &mut second);
        let first: Json = serde_json::from_str(&first).unwrap();
        let second: Json = serde_json::from_str(&second).unwrap();
        prop_assert_eq!(canonical(&first), canonical(&second));
        let body = PromptBody::Text("Hello {{ name }}".into());
        prop_assert_eq!(checksum::of(&body, &first), checksum::of(&body, &second));
    }

    #[test]
    fn canonical_form_is_a_fixed_point(value in json_value()) {
        let once = canonical(&value);
        let reparsed: Json = serde_json::from_str(&once).unwrap();
        prop_assert_eq!(canonical(&reparsed), once);
    }

    /// Floats with 17 significant digits (any `f64`) written in canonical
    /// form read back exactly (serde_json's `float_roundtrip`), so a config
    /// read back from storage and submitted again keeps its checksum.
    #[test]
    fn full_precision_floats_survive_a_round_trip(f in -1.0e6..1.0e6f64) {
        let once = canonical(&json!({ "temperature": f }));
        let reparsed: Json = serde_json::from_str(&once).unwrap();
        prop_assert_eq!(canonical(&reparsed), once);
    }

    #[test]
    fn checksums_tell_different_content_apart(a in json_value(), b in json_value(), template in ".{0,20}") {
        let text = PromptBody::Text(template.clone());
        let chat = PromptBody::Chat(vec![ChatMessage { role: "user".into(), content: template }]);
        prop_assert_ne!(checksum::of(&text, &a), checksum::of(&chat, &a));
        if canonical(&a) != canonical(&b) {
            prop_assert_ne!(checksum::of(&text, &a), checksum::of(&text, &b));
        }
    }
}

// ---------------------------------------------------------------------------
// Histogram merge

fn latencies() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(prop_oneof![4 => 0..2_000i64, 2 => 0..1_000_000i64, 1 => -10..10i64], 0..200)
}

fn recorded(samples: &[i64]) -> Histogram {
    let mut h = Histogram::default();
    samples.iter().for_each(|s| h.record(*s));
    h
}

fn merged(parts: &[&Histogram]) -> Histogram {
    let mut h = Histogram::default();
    parts.iter().for_each(|p| h.merge(p));
    h
}

proptest! {
    #[test]
    fn histogram_merge_is_commutative_and_associative(a in latencies(), b in latencies(), c in latencies()) {
        let (a, b, c) = (recorded(&a), recorded(&b), recorded(&c));
        prop_assert_eq!(merged(&[&a, &b]), merged(&[&b, &a]));
        let ab_c = merged(&[&merged(&[&a, &b]), &c]);
        let a_bc = merged(&[&a, &merged(&[&b, &c])]);
        prop_assert_eq!(&ab_c, &a_bc);
        prop_assert_eq!(merged(&[&a, &Histogram::default()]), a);
    }

    #[test]
    fn merged_histograms_equal_recording_every_sample(a in latencies(), b in latencies(), c in latencies()) {
        let all: Vec<i64> = a.iter().chain(&b).chain(&c).copied().collect();
        let whole = recorded(&all);
        prop_assert_eq!(merged(&[&recorded(&a), &recorded(&b), &recorded(&c)]), whole.clone());
        prop_assert_eq!(whole.total(), all.len() as i64);
        // The stored form reads back as the same histogram.
        prop_assert_eq!(Histogram::parse(&whole.to_json().to_string()).unwrap(), whole);
    }

    #[test]
    fn percentiles_fall_in_the_bucket_of_the_true_value(samples in latencies(), q in 0.001..=1.0f64) {
        prop_assume!(!samples.is_empty());
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        let exact = sorted[rank - 1];
        let (lower, upper) = Histogram::bucket_bounds(Histogram::bucket_of(exact));
        let estimate = recorded(&samples).percentile(q).unwrap();
        prop_assert!(lower as f64 <= estimate && estimate <= upper as f64, "{estimate} outside ({lower}, {upper}] of {exact}");
    }

    #[test]
    fn buckets_hold_their_bounds(latency in -5..800_000i64) {
        let bucket = Histogram::bucket_of(latency);
        let (lower, upper) = Histogram::bucket_bounds(bucket);
        if bucket == 0 {
            prop_assert!(latency <= upper);
        } else if bucket == BOUNDS_MS.len() {
            prop_assert!(latency > lower);
        } else {
            prop_assert!(lower < latency && latency <= upper);
        }
    }
}

// ---------------------------------------------------------------------------
// Cursors

proptest! {
    #[test]
    fn cursors_round_trip(parts in prop::collection::vec("[^\u{1f}]{0,24}", 1..5)) {
        let borrowed: Vec<&str> = parts.iter().map(String::as_str).collect();
        let encoded = cursor::encode(&borrowed);
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{encoded} is not URL-safe");
        prop_assert_eq!(cursor::decode(&encoded), Some(parts));
    }

    #[test]
    fn any_text_decodes_to_a_cursor_or_nothing(text in ".{0,40}") {
        if let Some(parts) = cursor::decode(&text) {
            prop_assert!(!parts.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------
// Rollup fold against a direct aggregation

#[derive(Debug, Clone)]
struct Execution {
    created_at: i64,
    model: &'static str,
    status: &'static str,
    error_type: &'static str,
    prompt_tokens: i64,
    response_tokens: i64,
    cost_nanos: i64,
    latency_ms: Option<i64>,
}

fn execution(start: i64) -> impl Strategy<Value = Execution> {
    (
        0..3 * DAY_MS,
        prop::sample::select(vec!["gpt-4o", "claude", "mock-1"]),
        prop::sample::select(vec!["succeeded", "failed", "canceled"]),
        prop::sample::select(vec!["", "timeout", "rate_limited"]),
        0..5_000i64,
        0..5_000i64,
        0..1_000_000i64,
        prop::option::of(0..700_000i64),
    )
        .prop_map(
            move |(offset, model, status, error_type, prompt_tokens, response_tokens, cost_nanos, latency_ms)| {
                Execution {
                    created_at: start + offset,
                    model,
                    status,
                    error_type: if status == "failed" { error_type } else { "" },
                    prompt_tokens,
                    response_tokens,
                    cost_nanos,
                    latency_ms,
                }
            },
        )
}

/// One row per (hour, dimensions), as the fold's aggregation query builds them.
fn hour_rows(executions: &[Execution]) -> Vec<RollupRow> {
    let mut rows: BTreeMap<(i64, &str, &str, &str), RollupRow> = BTreeMap::new();
    for e in executions {
        let hour = rollup::floor_hour(e.created_at);
        let row = rows.entry((hour, e.model, e.status, e.error_type)).or_insert_with(|| RollupRow {
            bucket_start: hour,
            prompt_version_id: "version".into(),
            prompt_id: "prompt".into(),
            version: Some(1),
            provider: "openai".into(),
            model_name: e.model.into(),
            status: e.status.into(),
            error_type: e.error_type.into(),
            executions: 0,
            prompt_tokens: 0,
            response_tokens: 0,
            cost_nanos: 0,
            latency_sum_ms: 0,
            latency: Histogram::default(),
        });
        row.executions += 1;
        row.prompt_tokens += e.prompt_tokens;
        row.response_tokens += e.response_tokens;
        row.cost_nanos += e.cost_nanos;
        if let Some(latency) = e.latency_ms {
            row.latency_sum_ms += latency;
            row.latency.record(latency);
        }
    }
    rows.into_values().collect()
}

/// The totals computed straight from the executions, without rollups.
fn direct(executions: &[Execution]) -> Stats {
    let count = |status: &str| executions.iter().filter(|e| e.status == status).count() as i64;
    let mut errors_by_type = BTreeMap::new();
    for e in executions.iter().filter(|e| e.status == "failed") {
        let kind = if e.error_type.is_empty() { "unknown" } else { e.error_type };
        *errors_by_type.entry(kind.to_owned()).or_insert(0) += 1;
    }
    let latencies: Vec<i64> = executions.iter().filter_map(|e| e.latency_ms).collect();
    Stats {
        executions: executions.len() as i64,
        succeeded: count("succeeded"),
        failed: count("failed"),
        canceled: count("canceled"),
        errors_by_type,
        prompt_tokens: executions.iter().map(|e| e.prompt_tokens).sum(),
        response_tokens: executions.iter().map(|e| e.response_tokens).sum(),
        cost_nanos: executions.iter().map(|e| e.cost_nanos).sum(),
        latency_sum_ms: latencies.iter().sum(),
        latency: recorded(&latencies),
    }
}

/// 2024-05-01T00:00:00Z
const START_MS: i64 = 1_714_521_600_000;

proptest! {
    #[test]
    fn rollup_fold_equals_direct_aggregation(
        executions in prop::collection::vec(execution(START_MS), 0..120),
        shift in 0..1_000usize,
    ) {
        let hours = hour_rows(&executions);
        let expected = direct(&executions);
        prop_assert_eq!(Stats::of(&hours), expected.clone());
        // Day totals, in any order of their hour rows, sum to the same.
        let mut shuffled = hours.clone();
        if !shuffled.is_empty() {
            let n = shuffled.len();
            shuffled.rotate_left(shift % n);
        }
        let mut by_day: BTreeMap<i64, Vec<RollupRow>> = BTreeMap::new();
        for row in shuffled {
            by_day.entry(rollup::floor_day(row.bucket_start)).or_default().push(row);
        }
        let mut days = Vec::new();
        for (day, rows) in &by_day {
            let totals = rollup::day_totals(*day, rows);
            prop_assert!(totals.iter().all(|t| t.bucket_start == *day));
            // One row per dimension set within the day.
            let mut keys: Vec<_> = totals.iter().map(RollupRow::key).collect();
            keys.sort();
            keys.dedup();
            prop_assert_eq!(keys.len(), totals.len());
            days.extend(totals);
        }
        prop_assert_eq!(Stats::of(&days), expected.clone());
        // Summaries over a window read the same from hours or from days.
        prop_assert_eq!(Stats::of(&days).to_json(), expected.to_json());
    }

    #[test]
    fn hour_and_day_boundaries_enclose_their_instant(ms in -1_000_000_000_000i64..300_000_000_000_000) {
        let (floor, ceil) = (rollup::floor_hour(ms), rollup::ceil_hour(ms));
        prop_assert!(floor <= ms && ms < floor + HOUR_MS && floor % HOUR_MS == 0);
        prop_assert!(ceil >= ms && ceil - ms < HOUR_MS && ceil % HOUR_MS == 0);
        let (floor, ceil) = (rollup::floor_day(ms), rollup::ceil_day(ms));
        prop_assert!(floor <= ms && ms < floor + DAY_MS && floor % DAY_MS == 0);
        prop_assert!(ceil >= ms && ceil - ms < DAY_MS && ceil % DAY_MS == 0);
    }
}

// ---------------------------------------------------------------------------
// RFC 3339

proptest! {
    #[test]
    fn rfc3339_round_trips(us in 0..MAX_US) {
        let text = format_us(us);
        prop_assert_eq!(parse_rfc3339_us(&text), Some(us), "{}", text);
        prop_assert_eq!(parse_json_time_us(&json!(text)), Ok(us));
        prop_assert!(text.ends_with('Z'), "{}", text);
    }

    #[test]
    fn millisecond_instants_round_trip(ms in 0..MAX_US / 1000) {
        prop_assert_eq!(parse_query_ms(&format_ms(ms)), Some(ms));
        prop_assert_eq!(parse_query_ms(&ms.to_string()), Some(ms));
    }

    #[test]
    fn offsets_name_the_same_instant(us in 2 * DAY_MS * 1000..MAX_US - 2 * DAY_MS * 1000, hours in 0..24i64, minutes in 0..60i64, east in any::<bool>()) {
        let offset_us = (hours * 3600 + minutes * 60) * 1_000_000 * if east { 1 } else { -1 };
        // The local wall-clock time, then the offset that makes it `us`.
        let local = format_us(us + offset_us);
        let sign = if east { '+' } else { '-' };
        let text = format!("{}{sign}{hours:02}:{minutes:02}", local.trim_end_matches('Z'));
        prop_assert_eq!(parse_rfc3339_us(&text), Some(us), "{}", text);
    }

    #[test]
    fn parsed_instants_are_in_range(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?") {
        if let Some(us) = parse_rfc3339_us(&text) {
            prop_assert!((0..MAX_US).contains(&us));
            prop_assert_eq!(parse_rfc3339_us(&format_us(us)), Some(us));
        }
    }
}
