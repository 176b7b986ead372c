//! Hostile input to the request parsers: deep nesting, lone surrogates,
//! huge numbers, NUL characters and oversized headers give a 4xx error,
//! never a panic, and arbitrary bytes never do either.

use ledger::api::request::{ApiRequest, parse_json, parse_json_value};
use ledger::error::ApiError;
use ledger::lineage::{ingest, otlp_proto};
use ledger::registry::template;
use proptest::prelude::*;
use serde_json::Value as Json;

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)]
struct Typed {
    name: String,
    count: Option<i64>,
    tags: Option<Vec<String>>,
}

/// Both body parsers, untyped and typed, refuse `body` with a 4xx.
fn refused(body: &[u8]) -> Vec<ApiError> {
    let errors = vec![
        parse_json_value(body).expect_err("untyped parse accepted it"),
        parse_json::<Json>(body).expect_err("typed parse accepted it"),
        parse_json::<Typed>(body).expect_err("struct parse accepted it"),
    ];
    for e in &errors {
        assert!(e.status.is_client_error(), "{e:?}");
        assert!(e.body()["error"]["message"].is_string(), "{e:?}");
    }
    errors
}

fn field(e: &ApiError) -> Option<&str> {
    e.details.as_ref().and_then(|d| d["field"].as_str())
}

#[test]
fn deep_nesting_is_refused() {
    for body in [
        "[".repeat(100_000),
        "{\"a\":".repeat(100_000),
        format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!(r#"{{"name": "x", "tags": {}"#, "[".repeat(100_000)),
    ] {
        let errors = refused(body.as_bytes());
        assert_eq!(errors[0].status, 400, "{:?}", errors[0]);
    }
}

#[test]
fn lone_surrogates_are_refused() {
    for body in [
        r#""\ud800""#,
        r#"{"name": "\ud800"}"#,
        r#"{"name": "a\udc00b"}"#,
        r#"{"name": "\ud800\u0041"}"#,
        r#"{"\udfff": 1}"#,
    ] {
        refused(body.as_bytes());
    }
    // A proper pair is one character.
    let ok: Typed = parse_json(r#"{"name": "\ud83d\ude00"}"#.as_bytes()).unwrap();
    assert_eq!(ok.name, "😀");
}

#[test]
fn huge_numbers_are_refused_or_named() {
    for body in ["1e999999", r#"{"name": "x", "count": 1e400}"#, "-1e309"] {
        refused(body.as_bytes());
    }
    // Too many digits for even a float: refused; past i64 in an i64 field, a 422 naming it.
    let digits = "9".repeat(100_000);
    refused(digits.as_bytes());
    assert!(parse_json_value(b"123456789012345678901234567890").unwrap().is_f64());
    refused(format!(r#"{{"name": "x", "count": {digits}}}"#).as_bytes());
    let e = parse_json::<Typed>(br#"{"name": "x", "count": 9223372036854775808}"#).unwrap_err();
    assert_eq!((e.status.as_u16(), field(&e)), (422, Some("count")));
    let e = parse_json::<Typed>(br#"{"name": "x", "count": 1.5}"#).unwrap_err();
    assert_eq!(e.status, 422);
}

#[test]
fn nul_characters_are_refused_with_their_field() {
    // The escape is valid JSON but cannot be stored: 422 naming the field.
    for (body, name) in [
        (&br#"{"name": "a\u0000b"}"#[..], "name"),
        (br#"{"name": "x", "tags": ["ok", "\u0000"]}"#, "tags[1]"),
        (br#"{"\u0000": "x"}"#, "\\u0000"),
    ] {
        for e in [parse_json_value(body).unwrap_err(), parse_json::<Typed>(body).unwrap_err()] {
            assert_eq!((e.status.as_u16(), field(&e)), (422, Some(name)), "{e:?}");
        }
    }
    // A raw NUL byte is a control character JSON does not allow in a string: 400.
    refused(b"{\"name\": \"a\0b\"}");
    refused(b"\0");
}

fn request(headers: &[(&str, &str)], query: &str, body: &[u8]) -> ApiRequest {
    let mut builder = http::Request::builder().uri(format!("/v1/prompts{query}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    ApiRequest::from_http(builder.body(body.to_vec()).unwrap())
}

#[test]
fn request_parsing_refuses_hostile_queries_and_headers() {
    let huge = "9".repeat(10_000);
    let req = request(&[], &format!("?limit={huge}&since={huge}&from=%00&to=2024-13-01T00:00:00Z"), b"");
    assert_eq!(req.query_parsed::<i64>("limit").unwrap_err().status, 422);
    assert_eq!(req.query_time_ms("since").unwrap_err().status, 422);
    assert_eq!(req.query_time_ms("from").unwrap_err().status, 422);
    assert_eq!(req.query_time_ms("to").unwrap_err().status, 422);
    assert_eq!(request(&[], "?include_archived=maybe", b"").query_bool("include_archived").unwrap_err().status, 422);

    let long = "x".repeat(1 << 20);
    let req = request(&[("content-type", &long), ("content-encoding", "gzip")], "", b"not gzip");
    assert_eq!(req.json::<Json>().unwrap_err().status, 415);
    assert_eq!(req.decoded_body().unwrap_err().status, 400);
    let req = request(&[("content-type", "application/json; charset=utf-8"), ("content-encoding", &long)], "", b"{}");
    assert_eq!(req.decoded_body().unwrap_err().status, 415);
    assert!(req.json::<Json>().is_ok());
    // A gzip bomb stops at the body limit.
    let bomb = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..5 {
            encoder.write_all(&zeros).unwrap();
        }
        encoder.finish().unwrap()
    };
    let req = request(&[("content-encoding", "gzip")], "", &bomb);
    assert_eq!(req.decoded_body().unwrap_err().status, 413);
}

#[test]
fn deep_templates_fail_without_overflowing_the_stack() {
    for source in [
        format!("{{{{ {}1{} }}}}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{{{{ {}1{} }}}}", "[".repeat(100_000), "]".repeat(100_000)),
        "{% if x %}".repeat(20_000),
        format!("{{{{ {}x }}}}", "not ".repeat(100_000)),
        // Chains the parser builds in a loop (these overflowed the stack).
        format!("{{{{ x{} }}}}", "|upper".repeat(100_000)),
        format!("{{{{ 1{} }}}}", "+1".repeat(100_000)),
        format!("{{{{ x{} }}}}", "()".repeat(5_000)),
        format!("{{% if x{} %}}{{% endif %}}", " or x".repeat(5_000)),
    ] {
        assert!(template::declared_variables(&source).is_err(), "{}", &source[..40]);
        let mut budget = template::MAX_OUTPUT_BYTES;
        assert!(template::render(&source, &minijinja_context(), &mut budget).is_err(), "{}", &source[..40]);
    }
}

fn minijinja_context() -> minijinja::Value {
    minijinja::Value::from_serialize(serde_json::json!({ "x": "y" }))
}

#[test]
fn templates_stay_within_their_limits() {
    for source in [
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ 'x' * 100000000 }}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{{ range(1000000000) | length }}",
    ] {
        let mut budget = template::MAX_OUTPUT_BYTES;
        let result = template::render(source, &minijinja_context(), &mut budget);
        assert!(
            result.as_ref().is_err_and(|e| matches!(e, template::RenderError::Limit { .. })),
            "{source}: {result:?}"
        );
    }
}

/// Doubling a value by concatenation takes a few instructions per step, so
/// fuel does not stop it, and minijinja checks the size of `'x' * n` but not
/// of `a ~ a` or `a + a`: forty steps ask for a terabyte and the allocation
/// failure aborts the process (a trap under Spin). No fix yet.
#[test]
#[ignore = "minijinja does not bound concatenation: this aborts the process on allocation failure"]
fn doubling_concatenation_hits_a_limit() {
    for source in [
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        "{% set ns = namespace(s=[1]) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
        "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ f('ab', 40) }}",
    ] {
        let mut budget = template::MAX_OUTPUT_BYTES;
        assert!(template::render(source, &minijinja_context(), &mut budget).is_err(), "{source}");
    }
}

/// An OTLP protobuf request whose one span has an attribute nested `depth`
/// arrays deep, written field by field from the inside out.
fn nested_otlp(depth: usize) -> Vec<u8> {
    fn wrap(field: u8, inner: Vec<u8>) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2];
        let mut len = inner.len();
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend(inner);
        out
    }
    let mut value = wrap(1, b"x".to_vec()); // AnyValue.string_value
    for _ in 0..depth {
        value = wrap(5, wrap(1, value)); // AnyValue.array_value(ArrayValue.values)
    }
    let attribute = [wrap(1, b"deep".to_vec()), wrap(2, value)].concat(); // KeyValue
    let span = [wrap(1, vec![1; 16]), wrap(2, vec![2; 8]), wrap(5, b"s".to_vec()), wrap(9, attribute)].concat();
    wrap(1, wrap(2, wrap(2, span))) // request.resource_spans.scope_spans.spans
}

#[test]
fn deeply_nested_spans_are_refused() {
    assert!(otlp_proto::request_to_json(&nested_otlp(3)).is_ok());
    assert!(otlp_proto::request_to_json(&nested_otlp(5_000)).is_err());
    let body = format!(
        r#"{{"spans": [{{"trace_id": "t", "span_id": "s", "name": "n", "attributes": {{"a": {}1{}}}}}]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = parse_json_value(body.as_bytes()).unwrap_err();
    assert_eq!(e.status, 400);
    // Nesting the JSON parser accepts reaches ingest, which answers without panicking.
    let body = format!(
        r#"{{"spans": [{{"trace_id": "t", "span_id": "s", "name": "n", "attributes": {{"a": {}1{}}}}}]}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let value = parse_json_value(body.as_bytes()).unwrap();
    if let Err(e) = ingest::parse_body(&value) {
        assert!(e.status.is_client_error(), "{e:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_give_a_value_or_a_4xx(body in prop::collection::vec(any::<u8>(), 0..256)) {
        for e in [parse_json_value(&body).err(), parse_json::<Typed>(&body).err()].into_iter().flatten() {
            prop_assert!(e.status.is_client_error(), "{:?}", e);
        }
    }

    #[test]
    fn strings_with_escapes_give_a_value_or_a_4xx(inner in r#"([a-z"]|\\u[0-9a-fA-F]{4}|\\[nrt"\\/bfx]){0,8}"#) {
        let body = format!(r#"{{"name": "{inner}", "tags": ["{inner}"]}}"#);
        match parse_json::<Typed>(body.as_bytes()) {
            Ok(typed) => prop_assert!(!typed.name.contains('\0')),
            Err(e) => prop_assert!(e.status.is_client_error(), "{:?}", e),
        }
    }
}
