//! The resolved-version cache in the key-value store (Redis in production).
//!
//! Keys:
//! - `pl:v1:prompt-gen:{name}` holds the prompt's current *generation*, an
//!   opaque token that is never reused;
//! - `pl:v1:prompt:{name}:{generation}:{selector}` holds a resolved version
//!   (`active`, `label:{label}` or `v:{number}`) with the time it was cached.
//!
//! Readers read the generation first, then the entry under it; on a miss they
//! query the database and store the result under the generation they read
//! *before* the query. Writers commit, then set a fresh generation before the
//! write returns.
//!
//! Why this is correct with several replicas: an entry under generation `g`
//! was computed by a database read that started after `g` was set. If that
//! read missed some commit `c`, then `c` committed after `g` was set, and
//! `c`'s writer sets a new generation after committing; `g` is never set
//! again (tokens are unique), so once `c`'s write returns no reader can reach
//! the entry. This includes the stale-writer race: a reader that queried the
//! database before a commit and stores the old value after the writer moved
//! the generation writes under a generation nobody reads any more. A missing
//! generation (first use, eviction) is replaced by a fresh token, never by a
//! default, so entries from before an eviction cannot come back.
//!
//! Every key-value failure falls back to the database. If a writer cannot
//! set the new generation (the store is failing at that moment), entries are
//! still bounded by [`MAX_AGE_MS`]: readers ignore older ones.

use serde::{Deserialize, Serialize};

use super::{ResolvedVersion, VersionSelector};
use crate::ports::{Ids, Kv};

/// Whether [`super::resolve`] uses this cache; `false` makes every
/// resolution one indexed query (the benchmark compares both through
/// [`super::resolve`] and [`super::resolve_from_db`]).
pub const ENABLED: bool = true;

/// Entries older than this are ignored, bounding staleness when a writer
/// could not reach the store to move the generation.
pub const MAX_AGE_MS: i64 = 60_000;

fn generation_key(name: &str) -> String {
    format!("pl:v1:prompt-gen:{name}")
}

fn entry_key(name: &str, generation: &str, selector: &VersionSelector) -> String {
    match selector {
        VersionSelector::Active => format!("pl:v1:prompt:{name}:{generation}:active"),
        VersionSelector::Label(label) => format!("pl:v1:prompt:{name}:{generation}:label:{label}"),
        VersionSelector::Number(n) => format!("pl:v1:prompt:{name}:{generation}:v:{n}"),
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    cached_at: i64,
    version: ResolvedVersion,
}

/// The prompt's current generation, creating one when there is none;
/// `None` when the store cannot be used.
pub async fn generation<K: Kv>(kv: &K, ids: &dyn Ids, name: &str) -> Option<String> {
    match kv.get(&generation_key(name)).await {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        Ok(None) => {
            let token = ids.new_id().simple().to_string();
            match kv.set(&generation_key(name), token.as_bytes()).await {
                Ok(()) => Some(token),
                Err(e) => {
                    eprintln!("prompt cache: cannot set generation: {e}");
                    None
                }
            }
        }
        Err(e) => {
            eprintln!("prompt cache: cannot read generation: {e}");
            None
        }
    }
}

/// A cached resolution under `generation`, if present and fresh.
pub async fn get<K: Kv>(
    kv: &K,
    name: &str,
    generation: &str,
    selector: &VersionSelector,
    now_ms: i64,
) -> Option<ResolvedVersion> {
    let bytes = match kv.get(&entry_key(name, generation, selector)).await {
        Ok(bytes) => bytes?,
        Err(e) => {
            eprintln!("prompt cache: cannot read entry: {e}");
            return None;
        }
    };
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    let fresh = now_ms.saturating_sub(entry.cached_at) < MAX_AGE_MS && entry.cached_at <= now_ms + MAX_AGE_MS;
    (fresh && entry.version.prompt_name == name).then_some(entry.version)
}

/// Stores a resolution read from the database under the generation read
/// before that query (best effort).
pub async fn put<K: Kv>(
    kv: &K,
    name: &str,
    generation: &str,
    selector: &VersionSelector,
    version: &ResolvedVersion,
    now_ms: i64,
) {
    let Ok(bytes) = serde_json::to_vec(&Entry { cached_at: now_ms, version: version.clone() }) else { return };
    if let Err(e) = kv.set(&entry_key(name, generation, selector), &bytes).await {
        eprintln!("prompt cache: cannot store entry: {e}");
    }
}

/// Makes every cached resolution of `name` unreachable: call after the
/// write committed and before it returns. `known` lists selectors whose
/// entries under the old generation are also deleted, to free space (the
/// rest become unreachable and stay until the store evicts them).
pub async fn invalidate<K: Kv>(kv: &K, ids: &dyn Ids, name: &str, known: &[VersionSelector]) {
    let old = kv.get(&generation_key(name)).await.ok().flatten().and_then(|b| String::from_utf8(b).ok());
    let token = ids.new_id().simple().to_string();
    let mut moved = false;
    for _ in 0..3 {
        if kv.set(&generation_key(name), token.as_bytes()).await.is_ok() {
            moved = true;
            break;
        }
    }
    if !moved {
        eprintln!("prompt cache: cannot move the generation of `{name}`; entries expire within {MAX_AGE_MS} ms");
    }
    if let Some(old) = old {
        for selector in known {
            // Best effort: a failed delete leaves an unreachable entry.
            let _ = kv.delete(&entry_key(name, &old, selector)).await;
        }
    }
}
