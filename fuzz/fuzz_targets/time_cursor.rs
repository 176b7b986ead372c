//! Query-time parsing, JSON timestamps and pagination cursors.
#![no_main]

use ledger::api::cursor;
use ledger::lineage::time::{format_us, parse_json_time_us, parse_query_ms, parse_rfc3339_us};
use libfuzzer_sys::fuzz_target;

/// 10000-01-01T00:00:00Z in microseconds: the parsers' upper bound.
const MAX_US: i64 = 253_402_300_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(us) = parse_rfc3339_us(text) {
        assert!((0..MAX_US).contains(&us), "{text} -> {us}");
        assert_eq!(parse_rfc3339_us(&format_us(us)), Some(us), "{text}");
    }
    if let Some(ms) = parse_query_ms(text) {
        assert!((0..MAX_US / 1000).contains(&ms), "{text} -> {ms}");
    }
    for value in [serde_json::Value::String(text.to_owned()), serde_json::from_str(text).unwrap_or_default()] {
        if let Ok(us) = parse_json_time_us(&value) {
            assert!((0..MAX_US).contains(&us), "{value} -> {us}");
        }
    }
    if let Some(parts) = cursor::decode(text) {
        let borrowed: Vec<&str> = parts.iter().map(String::as_str).collect();
        assert_eq!(cursor::decode(&cursor::encode(&borrowed)), Some(parts), "{text}");
    }
});
