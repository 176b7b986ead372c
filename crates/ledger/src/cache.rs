//! Generation-guarded caching in the key-value store (Redis in production),
//! used for resolved prompt versions, prompt views and API-key checks.
//!
//! Each cached subject (a prompt, the API-key table) has a *generation*: an
//! opaque token under its own key, never reused. Entries are stored under
//! the generation that was read *before* the database query that produced
//! them; writers commit, then move the generation before the write returns.
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
//! Entries live in the key-value store (shared by instances and replicas)
//! and in a small [`Memo`] per instance (Spin reuses an instance for many
//! requests), which saves the second key-value read on a hit. Memo entries
//! carry their generation too, so both become unreachable together.
//!
//! Every key-value failure falls back to the database. If a writer cannot
//! move the generation (the store is failing at that moment), entries are
//! still bounded by [`MAX_AGE_MS`]: readers ignore older ones.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::ports::{Host, Ids, Kv};

/// Entries older than this are ignored, bounding staleness when a writer
/// could not reach the store to move the generation.
pub const MAX_AGE_MS: i64 = 60_000;

/// Whether an entry cached at `cached_at` may still be used at `now_ms`
/// (entries from a clock far ahead are refused too).
pub fn is_fresh(cached_at: i64, now_ms: i64) -> bool {
    now_ms.saturating_sub(cached_at) < MAX_AGE_MS && cached_at <= now_ms + MAX_AGE_MS
}

/// The key of a generation: `pl:v1:{database}:{subject}`, where
/// `{database}` is a digest of the database URL, so deployments that share
/// one Redis but not a database never read each other's generations.
/// (Entries need no such prefix: they sit under generation tokens, which
/// are unique.)
pub fn generation_key(config: &Config, subject: &str) -> String {
    let digest = Sha256::digest(config.database_url.as_bytes());
    format!("pl:v1:{}:{subject}", hex::encode(&digest[..8]))
}

/// The current generation under `key` when caching may be used: the store
/// is shared by every process (see [`Host::kv_is_shared`]).
pub async fn shared_generation<H: Host>(host: &H, key: &str) -> Option<String> {
    if host.kv_is_shared() { generation(host.kv(), host.ids(), key).await } else { None }
}

/// The current generation under `key`, creating one when there is none;
/// `None` when the store cannot be used.
pub async fn generation<K: Kv>(kv: &K, ids: &dyn Ids, key: &str) -> Option<String> {
    match kv.get(key).await {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        Ok(None) => {
            let token = ids.new_id().simple().to_string();
            match kv.set(key, token.as_bytes()).await {
                Ok(()) => Some(token),
                Err(e) => {
                    eprintln!("cache: cannot set generation `{key}`: {e}");
                    None
                }
            }
        }
        Err(e) => {
            eprintln!("cache: cannot read generation `{key}`: {e}");
            None
        }
    }
}

/// Makes every entry under the current generation at `key` unreachable:
/// call after the write committed and before it returns. Returns the old
/// generation, so callers may delete entries they know of.
pub async fn advance<K: Kv>(kv: &K, ids: &dyn Ids, key: &str) -> Option<String> {
    let old = kv.get(key).await.ok().flatten().and_then(|b| String::from_utf8(b).ok());
    let token = ids.new_id().simple().to_string();
    for _ in 0..3 {
        if kv.set(key, token.as_bytes()).await.is_ok() {
            return old;
        }
    }
    eprintln!("cache: cannot move generation `{key}`; entries expire within {MAX_AGE_MS} ms");
    old
}

/// Per-instance entries, each valid only under the generation it was
/// stored with. Bounded: when full, it starts over.
pub struct Memo<V> {
    entries: HashMap<String, MemoEntry<V>>,
    capacity: usize,
}

struct MemoEntry<V> {
    generation: String,
    cached_at: i64,
    value: V,
}

impl<V: Clone> Memo<V> {
    pub fn new(capacity: usize) -> Self {
        Memo { entries: HashMap::new(), capacity }
    }

    pub fn get(&self, key: &str, generation: &str, now_ms: i64) -> Option<V> {
        let entry = self.entries.get(key)?;
        (entry.generation == generation && is_fresh(entry.cached_at, now_ms)).then(|| entry.value.clone())
    }

    pub fn put(&mut self, key: &str, generation: &str, cached_at: i64, value: V) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(key) {
            self.entries.clear();
        }
        self.entries.insert(key.to_owned(), MemoEntry { generation: generation.to_owned(), cached_at, value });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_entries_hold_only_under_their_generation_and_age() {
        let mut memo = Memo::new(2);
        memo.put("a", "g1", 1_000, 1);
        assert_eq!(memo.get("a", "g1", 1_000), Some(1));
        assert_eq!(memo.get("a", "g2", 1_000), None);
        assert_eq!(memo.get("a", "g1", 1_000 + MAX_AGE_MS), None);
        assert_eq!(memo.get("b", "g1", 1_000), None);
    }

    #[test]
    fn a_full_memo_starts_over() {
        let mut memo = Memo::new(2);
        memo.put("a", "g", 0, 1);
        memo.put("b", "g", 0, 2);
        memo.put("b", "g", 0, 3);
        assert_eq!(memo.get("a", "g", 0), Some(1));
        memo.put("c", "g", 0, 4);
        assert_eq!(memo.get("a", "g", 0), None);
        assert_eq!(memo.get("c", "g", 0), Some(4));
    }
}
