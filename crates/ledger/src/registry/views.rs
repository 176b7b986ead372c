//! JSON shapes of prompts, versions and labels in responses.

use serde_json::{Value as Json, json};

use crate::lineage::time::format_ms;
use crate::store::prompt_labels::LabelRecord;
use crate::store::prompt_versions::VersionRecord;
use crate::store::prompts::{ListedPrompt, PromptRecord};

fn prompt_fields(p: &PromptRecord) -> Json {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "owner_team": p.owner_team,
        "mode": p.mode,
        "latest_version": p.latest_version,
        "archived": p.archived_at.is_some(),
        "archived_at": p.archived_at.map(format_ms),
        "created_at": format_ms(p.created_at),
        "updated_at": format_ms(p.updated_at),
    })
}

/// One prompt with its active version (in full) and its labels.
pub fn prompt(p: &PromptRecord, active: Option<&VersionRecord>, labels: &[LabelRecord]) -> Json {
    let mut body = prompt_fields(p);
    body["active_version"] = active.map_or(Json::Null, |v| version(v, &p.name));
    body["labels"] = json!(labels);
    body
}

/// A prompt in a list: its fields and the number of its active version.
pub fn listed_prompt(listed: &ListedPrompt) -> Json {
    let mut body = prompt_fields(&listed.prompt);
    body["active_version"] = json!(listed.active_version);
    body
}

pub fn version(v: &VersionRecord, prompt_name: &str) -> Json {
    let mut body = json!({
        "id": v.id,
        "prompt_id": v.prompt_id,
        "prompt_name": prompt_name,
        "version": v.version,
        "kind": v.kind,
        "config": v.config,
        "variables": v.variables,
        "checksum_hash": v.checksum_hash,
        "status": v.status,
        "created_by": v.created_by,
        "message": v.message,
        "created_at": format_ms(v.created_at),
        "activated_at": v.activated_at.map(format_ms),
    });
    match (&v.template, &v.messages) {
        (Some(template), _) => body["template"] = json!(template),
        (None, Some(messages)) => body["messages"] = messages.clone(),
        (None, None) => {}
    }
    body
}
