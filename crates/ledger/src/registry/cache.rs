//! The registry's cache: resolved versions and prompt views, kept correct by
//! a generation per prompt (see [`crate::cache`] for why that is correct).
//!
//! Keys:
//! - `pl:v1:{database}:prompt-gen:{name}` holds the prompt's current
//!   generation (see [`crate::cache::generation_key`]);
//! - `pl:v1:prompt:{name}:{generation}:{entry}` holds a resolved version
//!   (`active`, `label:{label}` or `v:{number}`) or the prompt's view
//!   (`view`, the body of `GET /v1/prompts/{name}`), with the time it was
//!   cached.
//!
//! Every write to a prompt moves its generation after committing.

use std::cell::RefCell;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ResolvedVersion, VersionSelector};
pub use crate::cache::MAX_AGE_MS;
use crate::cache::{self as generations, Memo};
use crate::config::Config;
use crate::ports::{Host, Kv};

/// Whether [`super::resolve`] uses this cache; `false` makes every
/// resolution one indexed query (the benchmark compares both through
/// [`super::resolve`] and [`super::resolve_from_db`]).
pub const ENABLED: bool = true;

/// Entries kept per instance, per kind.
const MEMO_CAPACITY: usize = 1024;

thread_local! {
    static VERSIONS: RefCell<Memo<Rc<ResolvedVersion>>> = RefCell::new(Memo::new(MEMO_CAPACITY));
    static VIEWS: RefCell<Memo<Rc<[u8]>>> = RefCell::new(Memo::new(MEMO_CAPACITY));
}

fn generation_key(config: &Config, name: &str) -> String {
    generations::generation_key(config, &format!("prompt-gen:{name}"))
}

/// What a cache entry holds, named as its key's last part.
pub enum EntryKind<'a> {
    Version(&'a VersionSelector),
    View,
}

impl EntryKind<'_> {
    fn suffix(&self) -> String {
        match self {
            EntryKind::Version(VersionSelector::Active) => "active".into(),
            EntryKind::Version(VersionSelector::Label(label)) => format!("label:{label}"),
            EntryKind::Version(VersionSelector::Number(n)) => format!("v:{n}"),
            EntryKind::View => "view".into(),
        }
    }
}

fn entry_key(name: &str, generation: &str, kind: &EntryKind) -> String {
    format!("pl:v1:prompt:{name}:{generation}:{}", kind.suffix())
}

#[derive(Serialize, Deserialize)]
struct Entry<T> {
    cached_at: i64,
    value: T,
}

/// The prompt's generation when the cache may be used: [`ENABLED`], and a
/// store shared by every process; `None` otherwise.
pub async fn usable_generation<H: Host>(host: &H, name: &str) -> Option<String> {
    if ENABLED { generations::shared_generation(host, &generation_key(host.config(), name)).await } else { None }
}

/// The prompt's current generation, creating one when there is none;
/// `None` when the store cannot be used.
pub async fn generation<H: Host>(host: &H, name: &str) -> Option<String> {
    generations::generation(host.kv(), host.ids(), &generation_key(host.config(), name)).await
}

async fn get_entry<K: Kv, T: DeserializeOwned>(kv: &K, key: &str, now_ms: i64) -> Option<(i64, T)> {
    let bytes = match kv.get(key).await {
        Ok(bytes) => bytes?,
        Err(e) => {
            eprintln!("prompt cache: cannot read entry: {e}");
            return None;
        }
    };
    let entry: Entry<T> = serde_json::from_slice(&bytes).ok()?;
    generations::is_fresh(entry.cached_at, now_ms).then_some((entry.cached_at, entry.value))
}

async fn put_entry<K: Kv, T: Serialize>(kv: &K, key: &str, value: &T, now_ms: i64) {
    let Ok(bytes) = serde_json::to_vec(&Entry { cached_at: now_ms, value }) else { return };
    if let Err(e) = kv.set(key, &bytes).await {
        eprintln!("prompt cache: cannot store entry: {e}");
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
    let key = entry_key(name, generation, &EntryKind::Version(selector));
    if let Some(hit) = VERSIONS.with_borrow(|memo| memo.get(&key, generation, now_ms)) {
        return Some((*hit).clone());
    }
    let (cached_at, version): (i64, ResolvedVersion) = get_entry(kv, &key, now_ms).await?;
    if version.prompt_name != name {
        return None;
    }
    VERSIONS.with_borrow_mut(|memo| memo.put(&key, generation, cached_at, Rc::new(version.clone())));
    Some(version)
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
    let key = entry_key(name, generation, &EntryKind::Version(selector));
    put_entry(kv, &key, version, now_ms).await;
    VERSIONS.with_borrow_mut(|memo| memo.put(&key, generation, now_ms, Rc::new(version.clone())));
}

/// The cached body of the prompt's view under `generation`.
pub async fn get_view<K: Kv>(kv: &K, name: &str, generation: &str, now_ms: i64) -> Option<Rc<[u8]>> {
    let key = entry_key(name, generation, &EntryKind::View);
    if let Some(hit) = VIEWS.with_borrow(|memo| memo.get(&key, generation, now_ms)) {
        return Some(hit);
    }
    let (cached_at, body): (i64, String) = get_entry(kv, &key, now_ms).await?;
    let body: Rc<[u8]> = Rc::from(body.into_bytes());
    VIEWS.with_borrow_mut(|memo| memo.put(&key, generation, cached_at, body.clone()));
    Some(body)
}

/// Stores the view's body, read from the database under `generation`.
pub async fn put_view<K: Kv>(kv: &K, name: &str, generation: &str, body: &[u8], now_ms: i64) {
    let Ok(text) = std::str::from_utf8(body) else { return };
    let key = entry_key(name, generation, &EntryKind::View);
    put_entry(kv, &key, &text, now_ms).await;
    VIEWS.with_borrow_mut(|memo| memo.put(&key, generation, now_ms, Rc::from(body)));
}

/// Makes every cached entry of `name` unreachable: call after the write
/// committed and before it returns. `known` lists entries under the old
/// generation to delete, to free space (the rest become unreachable and
/// stay until the store evicts them).
pub async fn invalidate<H: Host>(host: &H, name: &str, known: &[EntryKind<'_>]) {
    let kv = host.kv();
    if let Some(old) = generations::advance(kv, host.ids(), &generation_key(host.config(), name)).await {
        for kind in known {
            // Best effort: a failed delete leaves an unreachable entry.
            let _ = kv.delete(&entry_key(name, &old, kind)).await;
        }
    }
}
