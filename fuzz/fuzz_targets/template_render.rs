//! Templates as untrusted input: parse, list variables and render with
//! the registry's limits. The input is a template, optionally followed by
//! a line `---` and a JSON object of variables.
#![no_main]

use ledger::registry::{self, PromptBody, Rendered, ResolvedVersion, template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (source, variables) = match text.split_once("\n---\n") {
        Some((source, vars)) => (source, serde_json::from_str(vars).unwrap_or_default()),
        None => (text, serde_json::Map::new()),
    };
    let Ok(declared) = template::declared_variables(source) else { return };
    let version = ResolvedVersion {
        prompt_id: "p".into(),
        prompt_name: "fuzz".into(),
        version_id: "v".into(),
        version: 1,
        checksum_hash: String::new(),
        body: PromptBody::Text(source.to_owned()),
        config: serde_json::json!({}),
        variables: declared,
    };
    match registry::render(&version, &variables) {
        Ok(Rendered::Text(out)) => assert!(out.len() <= template::MAX_OUTPUT_BYTES),
        Ok(Rendered::Chat(_)) => unreachable!("a text body renders as text"),
        Err(e) => assert!(e.status.is_client_error(), "{e:?}"),
    }
});
