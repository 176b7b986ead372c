//! The shared JSON body parsers: any bytes give a value or a 4xx error,
//! and the fast untyped path agrees with the typed one.
#![no_main]

use ledger::api::request::{parse_json, parse_json_value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = parse_json_value(data);
    let typed = parse_json::<serde_json::Value>(data);
    match (&fast, &typed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => {
            assert!(a.status.is_client_error(), "{a:?}");
            assert_eq!((a.status, a.code), (b.status, b.code));
        }
        _ => panic!("the two parsers disagree: {fast:?} / {typed:?}"),
    }
    // A parsed body never holds U+0000, which PostgreSQL cannot store.
    if let Ok(value) = fast {
        assert!(!holds_nul(&value), "NUL accepted in {value}");
    }
});

fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}
