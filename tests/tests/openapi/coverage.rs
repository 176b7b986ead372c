//! Checks recorded traffic against the spec: each response declared for its
//! operation and status and valid against its schema with unknown
//! properties rejected, each accepted request body valid against its
//! request schema, every operation answered with a success at least once,
//! and every declared response property seen at least once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jsonschema::Validator;
use serde_json::{Value as Json, json};

use crate::recorder::Exchange;
use crate::spec::{self, Operation};

/// Declared response properties the walk cannot produce, and why.
const NEVER_SEEN: &[(&str, &str)] = &[
    ("HealthCheck/error", "only while a dependency is down; tests/tests/migrations_and_outages.rs covers it"),
    ("HealthMigrations/current", "absent only while the database is down"),
    ("Health/checks/redis/latency_ms", "present only with Redis configured; the walk runs without it"),
    ("Health/checks/redis/error", "present only while Redis is down"),
];

pub struct Report {
    pub problems: Vec<String>,
    pub exchanges: usize,
    pub operations: usize,
    pub properties: usize,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "openapi drift: {} exchanges over {} operations, {} declared response properties",
            self.exchanges, self.operations, self.properties
        )
    }
}

/// JSON pointer escaping of one segment.
fn esc(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The spec with `additionalProperties: false` on every object schema that
/// lists its properties and says nothing about others: validation then
/// rejects any field the spec does not declare.
pub fn strict(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut out: serde_json::Map<String, Json> = map.iter().map(|(k, v)| (k.clone(), strict(v))).collect();
            if out.contains_key("properties") && !out.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), Json::Bool(false));
            }
            Json::Object(out)
        }
        Json::Array(items) => Json::Array(items.iter().map(strict).collect()),
        other => other.clone(),
    }
}

struct Checker {
    doc: Json,
    validators: HashMap<String, Validator>,
}

impl Checker {
    fn validator(&mut self, pointer: &str) -> &Validator {
        if !self.validators.contains_key(pointer) {
            let mut root = self.doc.clone();
            root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
            // A URI fragment: braces of path templates are percent-encoded.
            root["$ref"] = json!(format!("#{}", pointer.replace('{', "%7B").replace('}', "%7D")));
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"));
            self.validators.insert(pointer.to_owned(), validator);
        }
        &self.validators[pointer]
    }

    fn errors(&mut self, pointer: &str, instance: &Json) -> Vec<String> {
        self.validator(pointer)
            .iter_errors(instance)
            .take(5)
            .map(|e| {
                let text = e.to_string();
                let short: String = text.chars().take(300).collect();
                format!("{short} at {}", e.instance_path())
            })
            .collect()
    }

    fn at(&self, pointer: &str) -> &Json {
        self.doc.pointer(pointer).unwrap_or_else(|| panic!("no schema at {pointer}"))
    }

    /// Follows `$ref`s from `pointer` to the schema it names.
    fn follow(&self, pointer: &str) -> String {
        match self.at(pointer).get("$ref").and_then(Json::as_str) {
            Some(target) => self.follow(target.trim_start_matches('#')),
            None => pointer.to_owned(),
        }
    }

    /// Every property reachable from the schema at `pointer`.
    fn declared(&self, pointer: &str, out: &mut BTreeSet<String>, seen: &mut BTreeSet<String>) {
        let pointer = self.follow(pointer);
        if !seen.insert(pointer.clone()) {
            return;
        }
        let schema = self.at(&pointer).clone();
        if let Some(properties) = schema["properties"].as_object() {
            for name in properties.keys() {
                let child = format!("{pointer}/properties/{}", esc(name));
                out.insert(child.clone());
                self.declared(&child, out, seen);
            }
        }
        for key in ["oneOf", "anyOf", "allOf", "prefixItems"] {
            for i in 0..schema[key].as_array().map_or(0, Vec::len) {
                self.declared(&format!("{pointer}/{key}/{i}"), out, seen);
            }
        }
        for key in ["items", "additionalProperties"] {
            if schema[key].is_object() {
                self.declared(&format!("{pointer}/{key}"), out, seen);
            }
        }
    }

    /// Marks the properties `instance` shows, descending as validation would.
    fn cover(&mut self, pointer: &str, instance: &Json, seen: &mut BTreeSet<String>) {
        let pointer = self.follow(pointer);
        let schema = self.at(&pointer).clone();
        for key in ["oneOf", "anyOf"] {
            for i in 0..schema[key].as_array().map_or(0, Vec::len) {
                let branch = format!("{pointer}/{key}/{i}");
                if self.validator(&branch).is_valid(instance) {
                    self.cover(&branch, instance, seen);
                }
            }
        }
        match instance {
            Json::Object(map) => {
                let properties = schema["properties"].as_object().cloned().unwrap_or_default();
                for (name, value) in map {
                    if properties.contains_key(name) {
                        let child = format!("{pointer}/properties/{}", esc(name));
                        seen.insert(child.clone());
                        self.cover(&child, value, seen);
                    } else if schema["additionalProperties"].is_object() {
                        self.cover(&format!("{pointer}/additionalProperties"), value, seen);
                    }
                }
            }
            Json::Array(items) if schema["items"].is_object() => {
                for item in items {
                    self.cover(&format!("{pointer}/items"), item, seen);
                }
            }
            _ => {}
        }
    }
}

/// The pointer to `op`'s response `status`, following a `$ref` to a shared response.
/// An exact code is preferred to its range (`4XX`).
fn response_pointer(spec: &Json, op: &Operation, status: u16) -> Option<String> {
    let responses = format!("/paths/{}/{}/responses", esc(&op.path), op.method.to_lowercase());
    let pointer = [status.to_string(), format!("{}XX", status / 100)]
        .iter()
        .map(|code| format!("{responses}/{code}"))
        .find(|pointer| spec.pointer(pointer).is_some())?;
    match spec.pointer(&pointer)?.get("$ref").and_then(Json::as_str) {
        Some(target) => Some(target.trim_start_matches('#').to_owned()),
        None => Some(pointer),
    }
}

/// `type/subtype` of a content-type header.
fn essence(content_type: Option<&str>) -> Option<String> {
    content_type.map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

const JSON_SCHEMA: &str = "/content/application~1json/schema";

pub fn check(spec: &Json, exchanges: &[Exchange]) -> Report {
    let mut checker = Checker { doc: strict(spec), validators: HashMap::new() };
    let operations = spec::operations(spec);
    let mut problems = BTreeSet::new();
    let mut answered: BTreeMap<Operation, BTreeSet<u16>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for e in exchanges {
        // CORS preflights are answered before routing, for any path.
        if e.method == "OPTIONS" {
            continue;
        }
        let where_ = format!("[{}] {} {}", e.scenario, e.method, e.path);
        let body: Option<Json> = serde_json::from_slice(&e.response_body).ok();
        let op = spec::operation_of(spec, &e.method, &e.path).filter(|op| operations.contains_key(op));
        let Some(op) = op else {
            // No such operation: a 404, a 405, or the key check before either,
            // in the error body of the path's operations (the gateway's are the vendors').
            if ![401, 404, 405].contains(&e.status) {
                problems.insert(format!("{where_}: answered {} but the spec has no such operation", e.status));
            }
            let neighbour = spec::operation_of(spec, "", &e.path).and_then(|t| {
                operations.keys().filter(|o| o.path == t.path).find_map(|o| response_pointer(spec, o, 401))
            });
            let error_schema =
                neighbour.map_or("/components/schemas/Error".to_owned(), |r| format!("{r}{JSON_SCHEMA}"));
            let errors = checker.errors(&error_schema, body.as_ref().unwrap_or(&Json::Null));
            if !errors.is_empty() {
                problems.insert(format!("{where_}: {} is not the error body: {errors:?}", e.status));
            }
            continue;
        };
        answered.entry(op.clone()).or_default().insert(e.status);
        if response_pointer(spec, &op, e.status).is_none() {
            problems.insert(format!("{op}: status {} is not declared (seen in {where_})", e.status));
            continue;
        }
        check_response(&mut checker, spec, &op, e, &where_, body.as_ref(), &mut seen, &mut problems);
        if (200..300).contains(&e.status) && !e.request_body.is_empty() {
            check_request(&mut checker, spec, &op, e, &where_, &mut problems);
        }
    }
    for op in operations.keys() {
        match answered.get(op) {
            None => problems.insert(format!("{op}: never called")),
            Some(statuses) if !statuses.iter().any(|s| (200..300).contains(s)) => {
                problems.insert(format!("{op}: never answered with a success (saw {statuses:?})"))
            }
            Some(_) => false,
        };
    }
    // Every declared response property, reachable from a schema some response used.
    let mut declared = BTreeSet::new();
    for op in operations.keys() {
        for status in spec
            .pointer(&format!("/paths/{}/{}/responses", esc(&op.path), op.method.to_lowercase()))
            .and_then(Json::as_object)
            .map(|r| r.keys().filter_map(|k| k.replace("XX", "00").parse::<u16>().ok()).collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if let Some(pointer) = response_pointer(spec, op, status).map(|r| format!("{r}{JSON_SCHEMA}"))
                && spec.pointer(&pointer).is_some()
            {
                checker.declared(&pointer, &mut declared, &mut BTreeSet::new());
            }
        }
    }
    let exempt = |pointer: &str| {
        NEVER_SEEN.iter().any(|(path, _)| {
            let (schema, properties) = path.split_once('/').unwrap_or_default();
            let properties: Vec<String> = properties.split('/').map(|p| format!("/properties/{p}")).collect();
            pointer == format!("/components/schemas/{schema}{}", properties.concat())
        })
    };
    for pointer in declared.iter().filter(|p| !seen.contains(*p) && !exempt(p)) {
        problems.insert(format!("{pointer}: declared but never seen in a response"));
    }
    Report {
        problems: problems.into_iter().collect(),
        exchanges: exchanges.len(),
        operations: operations.len(),
        properties: declared.len(),
    }
}

/// The response is declared with its content type, and a JSON body matches its schema.
#[allow(clippy::too_many_arguments)]
fn check_response(
    checker: &mut Checker,
    spec: &Json,
    op: &Operation,
    e: &Exchange,
    where_: &str,
    body: Option<&Json>,
    seen: &mut BTreeSet<String>,
    problems: &mut BTreeSet<String>,
) {
    let Some(response) = response_pointer(spec, op, e.status) else { return };
    if e.response_body.is_empty() || e.method == "HEAD" {
        return;
    }
    let Some(kind) = essence(e.response_type.as_deref()) else {
        problems.insert(format!("{where_}: {} has a body but no content type", e.status));
        return;
    };
    if spec.pointer(&format!("{response}/content/{}", esc(&kind))).is_none() {
        problems.insert(format!("{op} {}: content type {kind} is not declared (in {where_})", e.status));
        return;
    }
    if kind != "application/json" {
        return;
    }
    let pointer = format!("{response}{JSON_SCHEMA}");
    let Some(body) = body else {
        problems.insert(format!("{where_}: {} says JSON but does not parse", e.status));
        return;
    };
    let errors = checker.errors(&pointer, body);
    if !errors.is_empty() {
        problems.insert(format!("{op} {}: {errors:?} (in {where_})", e.status));
    }
    checker.cover(&pointer, body, seen);
}

/// An accepted request body is of a declared content type and, as JSON, matches its schema.
fn check_request(
    checker: &mut Checker,
    spec: &Json,
    op: &Operation,
    e: &Exchange,
    where_: &str,
    problems: &mut BTreeSet<String>,
) {
    let body = format!("/paths/{}/{}/requestBody", esc(&op.path), op.method.to_lowercase());
    if spec.pointer(&body).is_none() {
        // Operations that ignore their body (archive, cancel, the beat).
        return;
    }
    let kind = essence(e.request_type.as_deref()).unwrap_or_else(|| "application/json".into());
    if spec.pointer(&format!("{body}/content/{}", esc(&kind))).is_none() {
        problems.insert(format!("{op}: accepted a {kind} body the spec does not declare (in {where_})"));
        return;
    }
    // Other types, and compressed bodies, are decoded by their own tests.
    if kind != "application/json" || e.request_encoding.is_some() {
        return;
    }
    match serde_json::from_slice::<Json>(&e.request_body) {
        Ok(request) => {
            let errors = checker.errors(&format!("{body}{JSON_SCHEMA}"), &request);
            if !errors.is_empty() {
                problems.insert(format!("{op} request body: {errors:?} (in {where_})"));
            }
        }
        Err(_) => {
            problems.insert(format!("{where_}: accepted a body that is not JSON"));
        }
    }
}
