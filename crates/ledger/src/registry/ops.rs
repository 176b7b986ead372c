//! Registry writes. Each is one transaction that first locks the prompt row,
//! so writes to one prompt serialise on both databases (PostgreSQL row lock,
//! SQLite write lock): version numbers have no gaps, a body is stored once,
//! and exactly one version is active. Every write moves the prompt's cache
//! generation after committing.

use serde_json::json;

use super::VersionSelector;
use super::cache::{self, EntryKind};
use super::input::PreparedVersion;
use crate::error::{ApiError, ApiResult};
use crate::ports::{Db, DbError, Host};
use crate::store::prompt_labels::{self, LabelRecord};
use crate::store::prompt_versions::{self, VersionRecord};
use crate::store::prompts::{self, PromptRecord};
use crate::store::transaction;

pub const MODE_FULL: &str = "full";
pub const MODE_TRACKING: &str = "tracking";

pub fn prompt_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("no prompt named `{name}`"))
}

fn archived(name: &str) -> ApiError {
    ApiError::new(
        http::StatusCode::CONFLICT,
        "prompt_archived",
        format!("prompt `{name}` is archived; unarchive it before changing it"),
    )
}

/// [`transaction`] with the registry's error type.
async fn in_transaction<D: Db, T>(db: &D, body: impl AsyncFnOnce() -> ApiResult<T>) -> ApiResult<T> {
    transaction(db, body).await
}

/// Locks a prompt that may be changed (exists, not archived).
async fn lock_writable<D: Db>(db: &D, name: &str) -> ApiResult<PromptRecord> {
    let prompt = prompts::lock_by_name(db, name).await?.ok_or_else(|| prompt_not_found(name))?;
    if prompt.archived_at.is_some() {
        return Err(archived(name));
    }
    Ok(prompt)
}

/// Moves the cache generation of a prompt that changed.
async fn invalidate<H: Host>(host: &H, prompt: &PromptRecord) {
    let mut selectors = vec![VersionSelector::Active];
    match prompt_labels::list(host.db(), &prompt.id).await {
        Ok(labels) => selectors.extend(labels.into_iter().map(|l| VersionSelector::Label(l.label))),
        // Only the clean-up of old entries needs the labels.
        Err(e) => eprintln!("prompt cache: cannot list labels of `{}`: {e}", prompt.name),
    }
    let mut known: Vec<EntryKind> = selectors.iter().map(EntryKind::Version).collect();
    known.push(EntryKind::View);
    cache::invalidate(host, &prompt.name, &known).await;
}

fn new_version<H: Host>(
    host: &H,
    prompt_id: &str,
    number: i64,
    prepared: &PreparedVersion,
    active: bool,
    created_by: Option<String>,
    message: Option<String>,
) -> VersionRecord {
    let now = host.clock().now_ms();
    VersionRecord {
        id: host.ids().new_id().to_string(),
        prompt_id: prompt_id.to_owned(),
        version: number,
        kind: prepared.kind().to_owned(),
        template: prepared.template(),
        messages: prepared.messages(),
        config: prepared.config.clone(),
        variables: prepared.variables.clone(),
        checksum_hash: prepared.checksum.clone(),
        status: if active { "active" } else { "draft" }.to_owned(),
        created_by,
        message,
        created_at: now,
        activated_at: active.then_some(now),
    }
}

pub struct NewPrompt {
    pub name: String,
    pub description: String,
    pub owner_team: Option<String>,
    pub mode: &'static str,
    /// Becomes version 1, active.
    pub initial: Option<PreparedVersion>,
    pub created_by: Option<String>,
}

/// Creates a prompt (and its first version when a body is given).
///
/// # Errors
/// 409 when the name is taken (archived prompts keep their name).
pub async fn create_prompt<H: Host>(host: &H, new: NewPrompt) -> ApiResult<(PromptRecord, Option<VersionRecord>)> {
    let db = host.db();
    let now = host.clock().now_ms();
    let mut prompt = PromptRecord {
        id: host.ids().new_id().to_string(),
        name: new.name,
        description: new.description,
        owner_team: new.owner_team,
        mode: new.mode.to_owned(),
        latest_version: 0,
        archived_at: None,
        created_at: now,
        updated_at: now,
    };
    let version = in_transaction(db, async || {
        match prompts::insert(db, &prompt).await {
            Err(DbError::Unique(_)) => {
                return Err(ApiError::conflict(format!("a prompt named `{}` already exists", prompt.name)));
            }
            other => other?,
        }
        let Some(initial) = &new.initial else { return Ok(None) };
        let number = prompts::next_version(db, &prompt.id, now).await?;
        let version = new_version(host, &prompt.id, number, initial, true, new.created_by.clone(), None);
        prompt_versions::insert(db, &version).await?;
        Ok(Some(version))
    })
    .await?;
    if let Some(v) = &version {
        prompt.latest_version = v.version;
        // A resolution attempt before the prompt existed may have set a
        // generation; nothing was cached under it (misses are not cached).
    }
    Ok((prompt, version))
}

/// Adds a version, or returns the existing one with the same checksum
/// (`false`: nothing was created, no number taken, status unchanged).
///
/// # Errors
/// 404 unknown prompt, 409 archived prompt.
pub async fn create_version<H: Host>(
    host: &H,
    name: &str,
    prepared: &PreparedVersion,
    activate: bool,
    created_by: Option<String>,
    message: Option<String>,
) -> ApiResult<(VersionRecord, bool)> {
    let db = host.db();
    let result = in_transaction(db, async || {
        let prompt = lock_writable(db, name).await?;
        // Under the lock, a body stored by a racing request is visible here.
        if let Some(existing) = prompt_versions::find_by_checksum(db, &prompt.id, &prepared.checksum).await? {
            return Ok((prompt, existing, false));
        }
        let number = prompts::next_version(db, &prompt.id, host.clock().now_ms()).await?;
        let version = new_version(host, &prompt.id, number, prepared, activate, created_by.clone(), message.clone());
        if activate {
            prompt_versions::demote_active(db, &prompt.id).await?;
        }
        prompt_versions::insert(db, &version).await?;
        Ok((prompt, version, true))
    })
    .await;
    let (prompt, version, created) = match result {
        Ok(done) => done,
        // The unique (prompt, checksum) constraint is the last word should
        // two inserts ever race: the loser returns the winner's version.
        Err(e) if e.status == http::StatusCode::CONFLICT && e.code == "conflict" => {
            let prompt = prompts::find_by_name(db, name).await?.ok_or_else(|| prompt_not_found(name))?;
            let existing = prompt_versions::find_by_checksum(db, &prompt.id, &prepared.checksum).await?.ok_or(e)?;
            (prompt, existing, false)
        }
        Err(e) => return Err(e),
    };
    if created {
        invalidate(host, &prompt).await;
    }
    Ok((version, created))
}

/// Makes version `number` the active one (rollback = activating an older
/// one). `false` when it already was.
///
/// # Errors
/// 404 unknown prompt or version, 409 archived prompt.
pub async fn activate<H: Host>(host: &H, name: &str, number: i64) -> ApiResult<(VersionRecord, bool)> {
    let db = host.db();
    let now = host.clock().now_ms();
    let (prompt, version, changed) = in_transaction(db, async || {
        let prompt = lock_writable(db, name).await?;
        let mut version = prompt_versions::find_by_number(db, &prompt.id, number)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("prompt `{name}` has no version {number}")))?;
        if version.status == "active" {
            return Ok((prompt, version, false));
        }
        // Demote first: the partial unique index allows one active version.
        prompt_versions::demote_active(db, &prompt.id).await?;
        prompt_versions::promote(db, &version.id, now).await?;
        prompts::touch(db, &prompt.id, now).await?;
        version.status = "active".into();
        version.activated_at = Some(now);
        Ok((prompt, version, true))
    })
    .await?;
    if changed {
        invalidate(host, &prompt).await;
    }
    Ok((version, changed))
}

/// Points `label` at version `number` (creates or moves it).
///
/// # Errors
/// 404 unknown prompt, 422 unknown version, 409 archived prompt.
pub async fn set_label<H: Host>(
    host: &H,
    name: &str,
    label: &str,
    number: i64,
    updated_by: Option<&str>,
) -> ApiResult<LabelRecord> {
    let db = host.db();
    let now = host.clock().now_ms();
    let (prompt, record) = in_transaction(db, async || {
        let prompt = lock_writable(db, name).await?;
        let version = prompt_versions::find_by_number(db, &prompt.id, number)
            .await?
            .ok_or_else(|| ApiError::invalid("version", format!("prompt `{name}` has no version {number}")))?;
        prompt_labels::upsert(db, &prompt.id, label, &version.id, updated_by, now).await?;
        prompts::touch(db, &prompt.id, now).await?;
        let record = LabelRecord {
            label: label.to_owned(),
            version: version.version,
            version_id: version.id,
            updated_by: updated_by.map(str::to_owned),
            updated_at: now,
        };
        Ok((prompt, record))
    })
    .await?;
    invalidate(host, &prompt).await;
    Ok(record)
}

/// Removes a label and returns what it pointed at.
///
/// # Errors
/// 404 unknown prompt or label, 409 archived prompt.
pub async fn delete_label<H: Host>(host: &H, name: &str, label: &str) -> ApiResult<LabelRecord> {
    let db = host.db();
    let now = host.clock().now_ms();
    let (prompt, record) = in_transaction(db, async || {
        let prompt = lock_writable(db, name).await?;
        let record = prompt_labels::find(db, &prompt.id, label)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("prompt `{name}` has no label `{label}`")))?;
        prompt_labels::delete(db, &prompt.id, label).await?;
        prompts::touch(db, &prompt.id, now).await?;
        Ok((prompt, record))
    })
    .await?;
    invalidate(host, &prompt).await;
    Ok(record)
}

/// Changes a prompt's description and/or owning team (`Some(None)` clears it).
///
/// # Errors
/// 404 unknown prompt.
pub async fn update_metadata<H: Host>(
    host: &H,
    name: &str,
    description: Option<&str>,
    owner_team: Option<Option<&str>>,
) -> ApiResult<PromptRecord> {
    let now = host.clock().now_ms();
    let prompt = prompts::update_metadata(host.db(), name, description, owner_team, now)
        .await?
        .ok_or_else(|| prompt_not_found(name))?;
    invalidate(host, &prompt).await;
    Ok(prompt)
}

/// Archives or restores a prompt; idempotent.
///
/// # Errors
/// 404 unknown prompt.
pub async fn set_archived<H: Host>(host: &H, name: &str, archive: bool) -> ApiResult<PromptRecord> {
    let now = host.clock().now_ms();
    let prompt = prompts::set_archived(host.db(), name, archive.then_some(now), now)
        .await?
        .ok_or_else(|| prompt_not_found(name))?;
    invalidate(host, &prompt).await;
    Ok(prompt)
}

/// What registering one prompt from code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterStatus {
    Created,
    Updated,
    Unchanged,
}

impl RegisterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RegisterStatus::Created => "created",
            RegisterStatus::Updated => "updated",
            RegisterStatus::Unchanged => "unchanged",
        }
    }
}

pub struct Registered {
    pub status: RegisterStatus,
    pub prompt: PromptRecord,
    /// The active version after the call.
    pub version: VersionRecord,
    pub previous_version: Option<i64>,
}

/// Tracking mode for one prompt, in one transaction: creates the prompt if
/// missing, and makes `prepared` its active version (a new version when the
/// checksum is new, the earlier version when code went back to an old body).
///
/// # Errors
/// 409 `mode_conflict` for a prompt managed through the API, 409
/// `prompt_archived`.
pub async fn register_one<H: Host>(host: &H, name: &str, prepared: &PreparedVersion) -> ApiResult<Registered> {
    let db = host.db();
    let now = host.clock().now_ms();
    let candidate = PromptRecord {
        id: host.ids().new_id().to_string(),
        name: name.to_owned(),
        description: String::new(),
        owner_team: None,
        mode: MODE_TRACKING.to_owned(),
        latest_version: 0,
        archived_at: None,
        created_at: now,
        updated_at: now,
    };
    let registered = in_transaction(db, async || {
        let created = prompts::insert_if_absent(db, &candidate).await?;
        let prompt = lock_writable(db, name).await?;
        if prompt.mode != MODE_TRACKING {
            return Err(ApiError::new(
                http::StatusCode::CONFLICT,
                "mode_conflict",
                format!(
                    "prompt `{name}` is managed through the API (mode `{}`), not registered from code",
                    prompt.mode
                ),
            )
            .with_details(json!({ "name": name, "mode": prompt.mode })));
        }
        let previous = prompt_versions::find_active(db, &prompt.id).await?;
        let previous_version = previous.as_ref().map(|v| v.version);
        let existing = prompt_versions::find_by_checksum(db, &prompt.id, &prepared.checksum).await?;
        let (status, version) = match existing {
            Some(v) if v.status == "active" => (RegisterStatus::Unchanged, v),
            Some(mut v) => {
                prompt_versions::demote_active(db, &prompt.id).await?;
                prompt_versions::promote(db, &v.id, now).await?;
                prompts::touch(db, &prompt.id, now).await?;
                v.status = "active".into();
                v.activated_at = Some(now);
                (RegisterStatus::Updated, v)
            }
            None => {
                let number = prompts::next_version(db, &prompt.id, now).await?;
                let v = new_version(host, &prompt.id, number, prepared, true, None, None);
                prompt_versions::demote_active(db, &prompt.id).await?;
                prompt_versions::insert(db, &v).await?;
                (if created { RegisterStatus::Created } else { RegisterStatus::Updated }, v)
            }
        };
        Ok(Registered { status, prompt, version, previous_version })
    })
    .await?;
    if registered.status != RegisterStatus::Unchanged {
        invalidate(host, &registered.prompt).await;
    }
    Ok(registered)
}
