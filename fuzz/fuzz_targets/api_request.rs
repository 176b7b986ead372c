//! Raw requests through `ledger::handle`: the router, path and query
//! handling, headers, authentication and every handler behind them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(req) = ledger_fuzz::parse_request_text(data) {
        ledger_fuzz::send(req);
    }
});
