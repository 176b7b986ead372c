//! Differences between two versions of a prompt: a unified diff of their
//! bodies (chat messages as `role: content` lines) and whether their configs
//! differ.

use std::time::Duration;

use serde_json::{Value as Json, json};
use similar::TextDiff;

use crate::store::prompt_versions::VersionRecord;

/// Bodies are at most 256 KiB; past this the diff is coarser, not slower.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);

/// The text a version's diff is computed over.
pub fn diffable_text(v: &VersionRecord) -> String {
    if let Some(template) = &v.template {
        return template.clone();
    }
    let mut out = String::new();
    for message in v.messages.as_ref().and_then(Json::as_array).into_iter().flatten() {
        let role = message["role"].as_str().unwrap_or_default();
        let content = message["content"].as_str().unwrap_or_default();
        out.push_str(&format!("{role}: {content}\n"));
    }
    out
}

pub fn between(prompt_name: &str, from: &VersionRecord, to: &VersionRecord) -> Json {
    let old = diffable_text(from);
    let new = diffable_text(to);
    let diff = TextDiff::configure().timeout(DIFF_TIMEOUT).diff_lines(&old, &new);
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("{prompt_name}@v{}", from.version), &format!("{prompt_name}@v{}", to.version))
        .to_string();
    json!({
        "prompt_name": prompt_name,
        "from": side(from),
        "to": side(to),
        "diff": unified,
        "body_changed": old != new || from.kind != to.kind,
        "config_changed": from.config != to.config,
        "config_from": from.config,
        "config_to": to.config,
    })
}

fn side(v: &VersionRecord) -> Json {
    json!({ "version": v.version, "id": v.id, "kind": v.kind, "checksum_hash": v.checksum_hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: i64, template: Option<&str>, messages: Option<Json>, config: Json) -> VersionRecord {
        VersionRecord {
            id: format!("id{n}"),
            prompt_id: "p".into(),
            version: n,
            kind: if template.is_some() { "text" } else { "chat" }.into(),
            template: template.map(str::to_owned),
            messages,
            config,
            variables: vec![],
            checksum_hash: format!("c{n}"),
            status: "draft".into(),
            created_by: None,
            message: None,
            created_at: 0,
            activated_at: None,
        }
    }

    #[test]
    fn text_diff_is_unified_and_config_change_is_flagged() {
        let a = version(1, Some("Hello {{ name }}\nBye\n"), None, json!({}));
        let b = version(2, Some("Hi {{ name }}\nBye\n"), None, json!({ "model": "m" }));
        let out = between("greet", &a, &b);
        let diff = out["diff"].as_str().unwrap();
        assert!(diff.contains("--- greet@v1\n+++ greet@v2\n"), "{diff}");
        assert!(diff.contains("-Hello {{ name }}\n+Hi {{ name }}\n"), "{diff}");
        assert_eq!(out["config_changed"], true);
        assert_eq!(out["body_changed"], true);
    }

    #[test]
    fn chat_messages_diff_as_role_lines() {
        let a = version(1, None, Some(json!([{ "role": "system", "content": "Be brief." }])), json!({}));
        let b = version(2, None, Some(json!([{ "role": "system", "content": "Be kind." }])), json!({}));
        let out = between("c", &a, &b);
        assert!(out["diff"].as_str().unwrap().contains("-system: Be brief.\n+system: Be kind.\n"));
        assert_eq!(out["config_changed"], false);
        assert_eq!(between("c", &a, &a)["diff"], "");
    }
}
