//! The spec as JSON: its operations, parameters, and `$ref` resolution.

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// The document kept at the repository root, as the app embeds it.
pub fn spec() -> Json {
    serde_json::from_str(ledger::api::openapi::SPEC).expect("openapi.json is JSON")
}

pub const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// One operation of the spec: upper-case method and path template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub method: String,
    pub path: String,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

pub fn operations(spec: &Json) -> BTreeMap<Operation, Json> {
    let mut out = BTreeMap::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                out.insert(Operation { method: method.to_uppercase(), path: path.clone() }, op.clone());
            }
        }
    }
    out
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
pub fn resolve<'a>(spec: &'a Json, value: &'a Json) -> &'a Json {
    match value.get("$ref").and_then(Json::as_str) {
        Some(pointer) => resolve(spec, spec.pointer(pointer.trim_start_matches('#')).expect("$ref resolves")),
        None => value,
    }
}

/// The parameters of an operation (its path item's and its own), resolved.
pub fn parameters(spec: &Json, path: &str, op: &Json) -> Vec<Json> {
    let shared = spec["paths"][path]["parameters"].as_array().cloned().unwrap_or_default();
    let own = op["parameters"].as_array().cloned().unwrap_or_default();
    shared.iter().chain(&own).map(|p| resolve(spec, p).clone()).collect()
}

/// The spec operation a request path belongs to: the closest template.
pub fn operation_of(spec: &Json, method: &str, path: &str) -> Option<Operation> {
    let templates = spec["paths"].as_object()?.keys().map(String::as_str);
    let template = ledger::api::routes::closest(templates, path)?;
    Some(Operation { method: method.to_owned(), path: template.to_owned() })
}

/// The JSON schema of an operation's response `status`, if it has one.
pub fn response_schema<'a>(spec: &'a Json, op: &'a Json, status: &str) -> Option<&'a Json> {
    let response = resolve(spec, op.get("responses")?.get(status)?);
    response.get("content")?.get("application/json")?.get("schema")
}
