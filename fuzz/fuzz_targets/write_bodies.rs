//! JSON bodies of every write route, sent through `ledger::handle` to the
//! route the first byte picks, so the handlers' own request types and
//! validation decode them.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// (method, path) of each route that reads a body; `{p}` is the seeded prompt.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/api-keys"),
    ("POST", "/v1/prompts"),
    ("POST", "/v1/prompts:register"),
    ("PATCH", "/v1/prompts/{p}"),
    ("POST", "/v1/prompts/{p}:render"),
    ("POST", "/v1/prompts/{p}/versions"),
    ("PUT", "/v1/prompts/{p}/labels/canary"),
    ("POST", "/v1/executions:run"),
    ("POST", "/api/v1/prompts/execute"),
    ("PUT", "/v1/models/openai/gpt-4o"),
    ("POST", "/v1/traces"),
    ("POST", "/v1/spans"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/prompts/{p}:archive"),
    ("POST", "/v1/prompts/{p}:unarchive"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let (method, path) = ROUTES[usize::from(pick) % ROUTES.len()];
    let path = path.replace("{p}", ledger_fuzz::PROMPT);
    ledger_fuzz::send(ledger_fuzz::json_request(method, &path, body.to_vec()));
});
