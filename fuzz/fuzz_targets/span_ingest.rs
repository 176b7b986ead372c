//! Span ingest: Prela/native JSON and OTLP/JSON bodies through
//! `parse_body`, and OTLP protobuf through `request_to_json` first.
//! The first byte picks the encoding.
#![no_main]

use ledger::api::request::parse_json_value;
use ledger::lineage::{ingest, otlp_proto};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let value = if pick % 2 == 0 {
        match parse_json_value(body) {
            Ok(value) => value,
            Err(e) => return assert!(e.status.is_client_error(), "{e:?}"),
        }
    } else {
        match otlp_proto::request_to_json(body) {
            Ok(value) => value,
            Err(_) => return,
        }
    };
    match ingest::parse_body(&value) {
        Ok(batch) => {
            assert!(batch.spans.len() <= ingest::MAX_BATCH_SPANS);
            assert!(batch.accepted >= batch.spans.len());
        }
        Err(e) => assert!(e.status.is_client_error(), "{e:?}"),
    }
});
