//! `checksum_hash`: SHA-256 over a canonical JSON form of a version's body
//! and config, so equal content hashes equally however the client ordered
//! its keys or spelled its numbers.

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::PromptBody;

/// The checksum of a body with its (already normalised) config.
pub fn of(body: &PromptBody, config: &Json) -> String {
    let content = match body {
        PromptBody::Text(template) => json!({ "kind": "text", "template": template, "config": config }),
        PromptBody::Chat(messages) => json!({
            "kind": "chat",
            "messages": messages.iter().map(|m| json!({ "role": m.role, "content": m.content })).collect::<Vec<_>>(),
            "config": config,
        }),
    };
    let mut canonical = String::new();
    write_canonical(&content, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Compact JSON with object keys in byte order and integral floats written
/// as integers (`1.0` and `1` are the same temperature).
pub fn write_canonical(value: &Json, out: &mut String) {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Json::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                out.push_str(&(f as i64).to_string())
            }
            _ => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ChatMessage;

    fn canonical(v: &Json) -> String {
        let mut s = String::new();
        write_canonical(v, &mut s);
        s
    }

    #[test]
    fn key_order_and_number_spelling_do_not_matter() {
        let a: Json = serde_json::from_str(r#"{"b": {"y": 1.0, "x": [2, "é\n"]}, "a": null}"#).unwrap();
        let b: Json = serde_json::from_str(r#"{"a": null, "b": {"x": [2.0, "é\n"], "y": 1}}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(canonical(&a), r#"{"a":null,"b":{"x":[2,"é\n"],"y":1}}"#);
        assert_eq!(canonical(&json!(0.5)), "0.5");
    }

    #[test]
    fn checksum_covers_body_kind_and_config() {
        let text = PromptBody::Text("Hello {{ name }}".into());
        let empty = json!({});
        let base = of(&text, &empty);
        assert_eq!(base.len(), 64);
        assert_eq!(base, of(&PromptBody::Text("Hello {{ name }}".into()), &json!({})));
        // Whitespace is content in a prompt.
        assert_ne!(base, of(&PromptBody::Text("Hello {{ name }} ".into()), &empty));
        assert_ne!(base, of(&text, &json!({ "model": "gpt-4o" })));
        let params_a = json!({ "model": "m", "params": { "temperature": 1, "top_p": 0.5 } });
        let params_b: Json =
            serde_json::from_str(r#"{"params": {"top_p": 0.5, "temperature": 1.0}, "model": "m"}"#).unwrap();
        assert_eq!(of(&text, &params_a), of(&text, &params_b));
        let chat = PromptBody::Chat(vec![ChatMessage { role: "user".into(), content: "Hello {{ name }}".into() }]);
        assert_ne!(base, of(&chat, &empty));
    }
}
