//! What a gateway request asks beyond the vendor's own fields: the models
//! to try, PromptLedger's options (from `PromptLedger-*` headers or
//! `promptledger_*` metadata keys), and the prompt the call is recorded
//! under.

use serde_json::{Map, Value as Json, json};

use super::Api;
use super::errors::GatewayError;
use crate::api::request::ApiRequest;
use crate::executions::providers::Provider;
use crate::executions::{DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS};
use crate::ports::Host;
use crate::registry::{self, ChatMessage, PromptBody, Rendered, ResolvedVersion, VersionSelector};

/// Most models one request may name (the model and its fallbacks).
pub const MAX_TARGETS: usize = 8;

/// One model to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub provider: Provider,
    pub model: String,
}

impl Target {
    /// `provider/model`, as the ledger and the response headers name it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.as_str(), self.model)
    }

    /// `openai/gpt-4o-mini`, `anthropic/claude-...`, `mock/...`, or a bare
    /// name: the provider it implies, else the caller's API's own vendor
    /// (so any OpenAI-compatible model name reaches `OPENAI_BASE_URL`).
    pub fn parse(name: &str, api: Api, param: &str) -> Result<Target, GatewayError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(GatewayError::invalid(param, "must be a model name of 1 to 200 characters"));
        }
        if let Some((prefix, model)) = name.split_once('/')
            && let Some(provider) = Provider::parse(prefix)
            && !model.is_empty()
        {
            return Ok(Target { provider, model: model.to_owned() });
        }
        let provider = Provider::infer(name).unwrap_or(match api {
            Api::OpenAi => Provider::OpenAi,
            Api::Anthropic => Provider::Anthropic,
        });
        Ok(Target { provider, model: name.to_owned() })
    }
}

/// The models in order: `model` (a name or a list of names), then
/// `fallbacks`. Both fields are removed from the body.
pub fn take_targets(
    body: &mut Map<String, Json>,
    api: Api,
    default_model: Option<&str>,
) -> Result<Vec<Target>, GatewayError> {
    let mut names: Vec<(String, String)> = Vec::new();
    match body.remove("model") {
        Some(Json::String(name)) => names.push((name, "model".into())),
        Some(Json::Array(list)) => {
            for (i, item) in list.into_iter().enumerate() {
                let Json::String(name) = item else {
                    return Err(GatewayError::invalid(&format!("model[{i}]"), "must be a string"));
                };
                names.push((name, format!("model[{i}]")));
            }
        }
        None | Some(Json::Null) => {}
        Some(_) => return Err(GatewayError::invalid("model", "must be a model name or a list of them")),
    }
    match body.remove("fallbacks") {
        Some(Json::Array(list)) => {
            for (i, item) in list.into_iter().enumerate() {
                let Json::String(name) = item else {
                    return Err(GatewayError::invalid(&format!("fallbacks[{i}]"), "must be a string"));
                };
                names.push((name, format!("fallbacks[{i}]")));
            }
        }
        None | Some(Json::Null) => {}
        Some(_) => return Err(GatewayError::invalid("fallbacks", "must be a list of model names")),
    }
    if names.is_empty() {
        match default_model {
            Some(name) => names.push((name.to_owned(), "model".into())),
            None => return Err(GatewayError::invalid("model", "is required")),
        }
    }
    if names.len() > MAX_TARGETS {
        return Err(GatewayError::invalid("fallbacks", format!("at most {MAX_TARGETS} models in all")));
    }
    names.iter().map(|(name, param)| Target::parse(name, api, param)).collect()
}

/// PromptLedger's options for one call.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A registered prompt to render into the messages.
    pub prompt: Option<String>,
    pub label: Option<String>,
    pub version: Option<i64>,
    pub variables: Map<String, Json>,
    /// The name to track the derived prompt under (default `gateway-<hash>`).
    pub track_as: Option<String>,
    pub correlation_id: Option<String>,
    pub timeout_ms: i64,
}

const METADATA_PREFIX: &str = "promptledger_";

impl Options {
    /// Reads the options, headers first, and removes the `promptledger_*`
    /// keys from `metadata` (and `metadata` itself when nothing is left), so
    /// providers never see them.
    pub fn take(req: &ApiRequest, body: &mut Map<String, Json>) -> Result<Options, GatewayError> {
        let mut from_metadata: Map<String, Json> = Map::new();
        if let Some(Json::Object(metadata)) = body.get_mut("metadata") {
            let ours: Vec<String> = metadata.keys().filter(|k| k.starts_with(METADATA_PREFIX)).cloned().collect();
            for key in ours {
                if let Some(value) = metadata.remove(&key) {
                    from_metadata.insert(key[METADATA_PREFIX.len()..].to_owned(), value);
                }
            }
            if metadata.is_empty() {
                body.remove("metadata");
            }
        }
        let text = |header: &str, key: &str| -> Result<Option<String>, GatewayError> {
            if let Some(v) = req.header(header) {
                return Ok(Some(v.to_owned()).filter(|v| !v.is_empty()));
            }
            match from_metadata.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
                Some(Json::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(GatewayError::invalid(&format!("metadata.{METADATA_PREFIX}{key}"), "must be a string")),
            }
        };
        let version = match text("promptledger-prompt-version", "version")? {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .map_err(|_| GatewayError::invalid("promptledger_version", "must be a version number"))?,
            ),
        };
        let variables = match req.header("promptledger-variables") {
            Some(raw) => parse_variables(raw, "PromptLedger-Variables")?,
            None => match from_metadata.get("variables") {
                None | Some(Json::Null) => Map::new(),
                Some(Json::Object(map)) => map.clone(),
                // OpenAI's metadata values are strings: a JSON object in one.
                Some(Json::String(raw)) => parse_variables(raw, "metadata.promptledger_variables")?,
                Some(_) => return Err(GatewayError::invalid("metadata.promptledger_variables", "must be an object")),
            },
        };
        let timeout_ms = match text("promptledger-timeout-ms", "timeout_ms")? {
            None => DEFAULT_TIMEOUT_MS,
            Some(v) => v.parse::<i64>().ok().filter(|t| (1..=MAX_TIMEOUT_MS).contains(t)).ok_or_else(|| {
                GatewayError::invalid("promptledger_timeout_ms", format!("must be between 1 and {MAX_TIMEOUT_MS}"))
            })?,
        };
        let correlation_id = text("promptledger-correlation-id", "correlation_id")?;
        if correlation_id.as_ref().is_some_and(|c| c.len() > 255) {
            return Err(GatewayError::invalid("promptledger_correlation_id", "must be at most 255 characters"));
        }
        Ok(Options {
            prompt: text("promptledger-prompt", "prompt")?,
            label: text("promptledger-prompt-label", "label")?,
            version,
            variables,
            track_as: text("promptledger-prompt-name", "prompt_name")?,
            correlation_id,
            timeout_ms,
        })
    }

    /// What of the options makes two requests different, for idempotency.
    pub fn hashed(&self) -> Json {
        json!({
            "prompt": self.prompt, "label": self.label, "version": self.version, "variables": self.variables,
            "track_as": self.track_as, "correlation_id": self.correlation_id,
        })
    }
}

fn parse_variables(raw: &str, param: &str) -> Result<Map<String, Json>, GatewayError> {
    match serde_json::from_str::<Json>(raw) {
        Ok(Json::Object(map)) => Ok(map),
        _ => Err(GatewayError::invalid(param, "must be a JSON object")),
    }
}

/// The system part of the messages in the caller's format: what the
/// tracking-mode prompt is made of.
pub fn system_texts(api: Api, body: &Map<String, Json>) -> Vec<String> {
    match api {
        Api::OpenAi => body
            .get("messages")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "system" || m["role"] == "developer")
            .map(|m| super::translate::openai_text(&m["content"]))
            .collect(),
        Api::Anthropic => match body.get("system") {
            None | Some(Json::Null) => Vec::new(),
            Some(system) => vec![super::translate::anthropic_text(system)],
        },
    }
}

/// A template that renders to `text` exactly: every `{` that would open a
/// Jinja tag (`{{`, `{%`, `{#`) is written as the expression `{{ "{" }}`.
pub fn literal_template(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '{' && matches!(chars.peek(), Some('{' | '%' | '#')) {
            out.push_str("{{ \"{\" }}");
        } else {
            out.push(c);
        }
    }
    out
}

/// The tracking-mode prompt of a call: its system messages, as literal
/// templates, under `track_as` or `gateway-<hash of the system text>`; a
/// call without system messages is tracked under the prompt of the empty
/// system text. Registered (or found) through the registry's cache.
pub async fn tracked_prompt<H: Host>(
    host: &H,
    api: Api,
    body: &Map<String, Json>,
    track_as: Option<&str>,
) -> Result<ResolvedVersion, GatewayError> {
    let system = system_texts(api, body);
    let name = match track_as {
        Some(name) => name.to_owned(),
        None => format!("gateway-{}", &crate::executions::canonical_hash(&json!(system))[..12]),
    };
    let messages: Vec<ChatMessage> = if system.is_empty() {
        vec![ChatMessage { role: "system".into(), content: String::new() }]
    } else {
        system.iter().map(|s| ChatMessage { role: "system".into(), content: literal_template(s) }).collect()
    };
    Ok(registry::register_inline(host, &name, PromptBody::Chat(messages), json!({})).await?)
}

/// Renders the registered prompt `options` names and puts its messages
/// before the caller's: system messages into the system prompt for
/// Anthropic callers, the rest ahead of `messages`. The version's stored
/// params fill in what the body leaves out.
pub async fn render_registered<H: Host>(
    host: &H,
    api: Api,
    body: &mut Map<String, Json>,
    name: &str,
    options: &Options,
) -> Result<ResolvedVersion, GatewayError> {
    let selector = VersionSelector::from_parts(options.version, options.label.clone());
    let version = registry::resolve(host, name, &selector).await?;
    let rendered = match registry::render(&version, &options.variables)? {
        Rendered::Text(text) => vec![ChatMessage { role: "user".into(), content: text }],
        Rendered::Chat(messages) => messages,
    };
    let existing = match body.remove("messages") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(list)) => list,
        Some(_) => return Err(GatewayError::invalid("messages", "must be a list")),
    };
    let mut messages: Vec<Json> = Vec::with_capacity(rendered.len() + existing.len());
    let mut system: Vec<String> = Vec::new();
    for m in &rendered {
        if api == Api::Anthropic && m.role == "system" {
            system.push(m.content.clone());
        } else {
            messages.push(json!({ "role": m.role, "content": m.content }));
        }
    }
    messages.extend(existing);
    body.insert("messages".into(), Json::Array(messages));
    if !system.is_empty() {
        let joined = system.join("\n\n");
        let merged = match body.remove("system") {
            None | Some(Json::Null) => json!(joined),
            Some(Json::String(s)) => json!(format!("{joined}\n\n{s}")),
            Some(Json::Array(mut blocks)) => {
                blocks.insert(0, json!({ "type": "text", "text": joined }));
                Json::Array(blocks)
            }
            Some(_) => return Err(GatewayError::invalid("system", "must be a string or a list of text blocks")),
        };
        body.insert("system".into(), merged);
    }
    if let Some(params) = version.config["params"].as_object() {
        for (key, value) in params {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    Ok(version)
}

/// The messages as the ledger records them (the rendered prompt): the
/// caller's, with an Anthropic system prompt as a leading system message.
pub fn recorded_messages(api: Api, body: &Map<String, Json>) -> Json {
    let messages = body.get("messages").cloned().unwrap_or_else(|| json!([]));
    match (api, body.get("system")) {
        (Api::Anthropic, Some(system)) if !system.is_null() => {
            let mut all = vec![json!({ "role": "system", "content": super::translate::anthropic_text(system) })];
            all.extend(messages.as_array().cloned().unwrap_or_default());
            Json::Array(all)
        }
        _ => messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_name_their_provider_or_imply_it() {
        let t = |name: &str, api| Target::parse(name, api, "model").unwrap();
        assert_eq!(
            t("openai/gpt-4o-mini", Api::OpenAi),
            Target { provider: Provider::OpenAi, model: "gpt-4o-mini".into() }
        );
        assert_eq!(t("anthropic/claude-x", Api::OpenAi).provider, Provider::Anthropic);
        assert_eq!(t("gpt-4o", Api::Anthropic).provider, Provider::OpenAi);
        assert_eq!(t("claude-3-5-haiku", Api::OpenAi).provider, Provider::Anthropic);
        // An OpenAI-compatible server's own names keep their slashes.
        assert_eq!(
            t("meta-llama/llama-3", Api::OpenAi),
            Target { provider: Provider::OpenAi, model: "meta-llama/llama-3".into() }
        );
        assert_eq!(t("llama3", Api::Anthropic).provider, Provider::Anthropic);
    }

    #[test]
    fn model_lists_and_fallbacks_are_tried_in_order() {
        let mut body: Map<String, Json> =
            serde_json::from_value(json!({ "model": ["a/b", "mock/m"], "fallbacks": ["gpt-4o"], "messages": [] }))
                .unwrap();
        let targets = take_targets(&mut body, Api::OpenAi, None).unwrap();
        let labels: Vec<String> = targets.iter().map(Target::label).collect();
        assert_eq!(labels, ["openai/a/b", "mock/m", "openai/gpt-4o"]);
        assert!(!body.contains_key("model") && !body.contains_key("fallbacks"));
        let mut empty = Map::new();
        assert_eq!(take_targets(&mut empty, Api::OpenAi, None).unwrap_err().param.as_deref(), Some("model"));
        assert_eq!(take_targets(&mut Map::new(), Api::OpenAi, Some("mock-1")).unwrap()[0].provider, Provider::Mock);
    }

    #[test]
    fn literal_templates_render_to_their_text() {
        let text = "Reply as JSON: {\"a\": 1}. Not {{ this }}, {% nor %} {# that #}. {{{";
        let template = literal_template(text);
        let mut budget = 1 << 20;
        let rendered =
            crate::registry::template::render(&template, &minijinja::Value::from_serialize(Map::new()), &mut budget)
                .unwrap();
        assert_eq!(rendered, text);
        assert_eq!(crate::registry::template::declared_variables(&template).unwrap(), Vec::<String>::new());
        assert_eq!(literal_template("plain {a}"), "plain {a}");
    }
}
