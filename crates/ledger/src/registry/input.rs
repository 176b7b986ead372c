//! Validation of what clients send the registry: names, labels, configs and
//! version bodies, turned into a [`PreparedVersion`] (checked, checksummed,
//! variables listed) before anything touches the database.

use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use super::{ChatMessage, PromptBody, checksum, template};
use crate::error::{ApiError, ApiResult};

/// Longest template (or all messages of a chat prompt together).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub const MAX_MESSAGES: usize = 200;
pub const ROLES: &[&str] = &["system", "user", "assistant"];

/// `^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$`: safe in URLs and cache keys.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn validate_name(field: &str, name: &str) -> ApiResult<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "must be 1 to 128 characters of letters, digits, `.`, `_` or `-`, starting with a letter or digit",
        ))
    }
}

/// `^[a-z0-9][a-z0-9_-]{0,62}$`, e.g. `production`, `staging`, `canary-eu`.
pub fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    (1..=63).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

pub fn validate_label(field: &str, label: &str) -> ApiResult<()> {
    if is_valid_label(label) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "must be 1 to 63 lowercase letters, digits, `_` or `-`, starting with a letter or digit",
        ))
    }
}

/// A list filter: at most 128 characters from the name alphabet.
pub fn validate_prefix(prefix: &str) -> ApiResult<()> {
    let ok =
        prefix.len() <= 128 && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(ApiError::invalid("prefix", "may only contain letters, digits, `.`, `_` or `-`")) }
}

/// Short free-text fields (owner team, author, commit message).
pub fn validate_text(field: &str, value: &str, max_chars: usize) -> ApiResult<()> {
    if value.chars().count() > max_chars {
        return Err(ApiError::invalid(field, format!("must be at most {max_chars} characters")));
    }
    Ok(())
}

/// The model settings stored with a version.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionConfig {
    model: Option<String>,
    provider: Option<String>,
    params: Option<Map<String, Json>>,
}

/// Checks a version's `config` and returns its stored form:
/// `{"model"?, "provider"?, "params"?}` with empty parts left out.
pub fn normalize_config(field: &str, config: Option<&Json>) -> ApiResult<Json> {
    let config = match config {
        None | Some(Json::Null) => VersionConfig::default(),
        Some(Json::Object(_)) => {
            let value = config.cloned().unwrap_or_default();
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." { field.to_owned() } else { format!("{field}.{path}") };
                ApiError::invalid(&at, e.into_inner().to_string())
            })?
        }
        Some(_) => return Err(ApiError::invalid(field, "must be an object with `model`, `provider` and `params`")),
    };
    let mut out = Map::new();
    for (key, value) in [("model", config.model), ("provider", config.provider)] {
        if let Some(value) = value {
            let value = value.trim();
            if value.is_empty() || value.len() > 200 {
                return Err(ApiError::invalid(&format!("{field}.{key}"), "must be 1 to 200 characters"));
            }
            out.insert(key.into(), json!(value));
        }
    }
    if let Some(params) = config.params.filter(|p| !p.is_empty()) {
        out.insert("params".into(), Json::Object(params));
    }
    Ok(Json::Object(out))
}

/// `template` or `messages`, exactly one, as a [`PromptBody`].
pub fn body_from(
    field_prefix: &str,
    template: Option<String>,
    messages: Option<Vec<ChatMessage>>,
) -> ApiResult<PromptBody> {
    match (template, messages) {
        (Some(_), Some(_)) => {
            Err(ApiError::invalid(&format!("{field_prefix}template"), "give either `template` or `messages`, not both"))
        }
        (None, None) => {
            Err(ApiError::invalid(&format!("{field_prefix}template"), "a `template` or `messages` is required"))
        }
        (Some(t), None) => Ok(PromptBody::Text(t)),
        (None, Some(m)) => Ok(PromptBody::Chat(m)),
    }
}

/// A version body that passed every check, ready to store.
#[derive(Debug, Clone)]
pub struct PreparedVersion {
    pub body: PromptBody,
    pub config: Json,
    pub variables: Vec<String>,
    pub checksum: String,
}

impl PreparedVersion {
    pub fn kind(&self) -> &'static str {
        match self.body {
            PromptBody::Text(_) => "text",
            PromptBody::Chat(_) => "chat",
        }
    }

    pub fn template(&self) -> Option<String> {
        match &self.body {
            PromptBody::Text(t) => Some(t.clone()),
            PromptBody::Chat(_) => None,
        }
    }

    pub fn messages(&self) -> Option<Json> {
        match &self.body {
            PromptBody::Text(_) => None,
            PromptBody::Chat(m) => Some(json!(m)),
        }
    }
}

/// Validates a body and its config: sizes, roles, template syntax (422
/// `template_syntax` with line and column). `field_prefix` names the body in
/// errors (`""`, or `prompts[3].` in a batch).
pub fn prepare(field_prefix: &str, body: PromptBody, config: Option<&Json>) -> ApiResult<PreparedVersion> {
    let config = normalize_config(&format!("{field_prefix}config"), config)?;
    let variables = match &body {
        PromptBody::Text(template) => {
            let field = format!("{field_prefix}template");
            if template.trim().is_empty() {
                return Err(ApiError::invalid(&field, "must not be empty"));
            }
            if template.len() > MAX_BODY_BYTES {
                return Err(ApiError::invalid(&field, format!("must be at most {MAX_BODY_BYTES} bytes")));
            }
            checked_variables(&field, template, None)?
        }
        PromptBody::Chat(messages) => {
            let field = format!("{field_prefix}messages");
            if messages.is_empty() || messages.len() > MAX_MESSAGES {
                return Err(ApiError::invalid(&field, format!("must hold 1 to {MAX_MESSAGES} messages")));
            }
            if messages.iter().map(|m| m.content.len()).sum::<usize>() > MAX_BODY_BYTES {
                return Err(ApiError::invalid(&field, format!("contents must total at most {MAX_BODY_BYTES} bytes")));
            }
            let mut all = Vec::new();
            for (i, message) in messages.iter().enumerate() {
                if !ROLES.contains(&message.role.as_str()) {
                    return Err(ApiError::invalid(&format!("{field}[{i}].role"), "must be system, user or assistant"));
                }
                all.extend(checked_variables(&format!("{field}[{i}].content"), &message.content, Some(i))?);
            }
            all.sort();
            all.dedup();
            all
        }
    };
    let checksum = checksum::of(&body, &config);
    Ok(PreparedVersion { body, config, variables, checksum })
}

fn checked_variables(field: &str, source: &str, message_index: Option<usize>) -> ApiResult<Vec<String>> {
    template::declared_variables(source).map_err(|e| {
        let mut details = json!({ "field": field, "line": e.line, "column": e.column, "message": e.message });
        if let Some(i) = message_index {
            details["message_index"] = json!(i);
        }
        let at = e.line.map(|l| format!(" at line {l}")).unwrap_or_default();
        ApiError::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "template_syntax",
            format!("{field}: syntax error{at}: {}", e.message),
        )
        .with_details(details)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        for ok in ["a", "summarize", "Team.Prompt_v2-final", &"x".repeat(128)] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "a:b", "é", &"x".repeat(129)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        for ok in ["production", "staging", "canary-eu_2", "1"] {
            assert!(is_valid_label(ok), "{ok}");
        }
        for bad in ["", "Prod", "-x", "a.b", "a b", &"x".repeat(64)] {
            assert!(!is_valid_label(bad), "{bad}");
        }
    }

    #[test]
    fn config_is_checked_and_normalised() {
        assert_eq!(normalize_config("config", None).unwrap(), json!({}));
        let c = json!({ "model": " gpt-4o ", "provider": "openai", "params": {} });
        assert_eq!(normalize_config("config", Some(&c)).unwrap(), json!({ "model": "gpt-4o", "provider": "openai" }));
        let e = normalize_config("config", Some(&json!({ "modle": "x" }))).unwrap_err();
        assert_eq!(e.status, 422);
        let e = normalize_config("config", Some(&json!({ "params": 3 }))).unwrap_err();
        assert_eq!(e.details.unwrap()["field"], "config.params");
        assert!(normalize_config("config", Some(&json!([1]))).is_err());
    }

    #[test]
    fn chat_variables_are_the_union_and_roles_are_checked() {
        let body = PromptBody::Chat(vec![
            ChatMessage { role: "system".into(), content: "You are {{ persona }}.".into() },
            ChatMessage { role: "user".into(), content: "{{ question }} ({{ persona }})".into() },
        ]);
        let prepared = prepare("", body, None).unwrap();
        assert_eq!(prepared.variables, ["persona", "question"]);
        assert_eq!(prepared.kind(), "chat");

        let bad = PromptBody::Chat(vec![ChatMessage { role: "tool".into(), content: "x".into() }]);
        assert_eq!(prepare("", bad, None).unwrap_err().details.unwrap()["field"], "messages[0].role");
    }

    #[test]
    fn syntax_errors_are_template_syntax_with_position() {
        let e = prepare("", PromptBody::Text("ok\n{% for %}".into()), None).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "template_syntax"));
        let details = e.details.unwrap();
        assert_eq!(details["line"], 2);
        assert!(details["column"].is_number());
        let chat = PromptBody::Chat(vec![
            ChatMessage { role: "system".into(), content: "fine".into() },
            ChatMessage { role: "user".into(), content: "{{ broken".into() },
        ]);
        let e = prepare("prompts[2].", chat, None).unwrap_err();
        assert_eq!(e.details.unwrap()["message_index"], 1);
    }
}
