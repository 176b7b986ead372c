//! Executions: render a prompt, call a provider, record everything.
//!
//! The `executions` table is also the queue: async runs wait there as
//! `queued`, a worker (Redis trigger) or the beat claims them with a lease,
//! and the beat requeues runs whose lease expired.

pub mod cost;
pub mod model_cache;
pub mod providers;
pub mod run;
pub mod view;
pub mod worker;

use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

/// Redis channel the worker subscribes to; the payload is an execution id.
pub const QUEUE_CHANNEL: &str = "promptledger.executions";

/// Default provider timeout; a request may ask for less or more (≤ 10 min).
pub const DEFAULT_TIMEOUT_MS: i64 = 60_000;
pub const MAX_TIMEOUT_MS: i64 = 600_000;
pub const DEFAULT_MAX_ATTEMPTS: i64 = 3;
/// A lease outlives the provider timeout by this much before the beat
/// considers the run lost.
pub const LEASE_MARGIN_MS: i64 = 30_000;

/// SHA-256 of the JSON value with object keys sorted, so equal requests hash
/// equally whatever their key order.
pub fn canonical_hash(value: &Json) -> String {
    fn canonical(value: &Json) -> Json {
        match value {
            Json::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut sorted = Map::new();
                for k in keys {
                    sorted.insert(k.clone(), canonical(&map[k]));
                }
                Json::Object(sorted)
            }
            Json::Array(items) => Json::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    hex::encode(Sha256::digest(canonical(value).to_string().as_bytes()))
}

/// Exponential backoff with jitter: 0.5 s × 2^(attempt-1), capped at 30 s,
/// scaled by a random factor in [0.5, 1), and never sooner than the
/// provider's `Retry-After`.
pub fn backoff_ms(attempt: i64, retry_after_s: Option<u64>, random: u16) -> i64 {
    let exp = 500i64.saturating_mul(1i64 << attempt.clamp(1, 16).saturating_sub(1)).min(30_000);
    let jittered = exp / 2 + (exp / 2) * i64::from(random) / i64::from(u16::MAX);
    jittered.max(retry_after_s.map_or(0, |s| s as i64 * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order() {
        assert_eq!(
            canonical_hash(&json!({"a": 1, "b": {"c": 2, "d": 3}})),
            canonical_hash(&json!({"b": {"d": 3, "c": 2}, "a": 1}))
        );
        assert_ne!(canonical_hash(&json!({"a": 1})), canonical_hash(&json!({"a": 2})));
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        assert!((250..=500).contains(&backoff_ms(1, None, 0)));
        assert!((250..=500).contains(&backoff_ms(1, None, u16::MAX)));
        assert!((1000..=2000).contains(&backoff_ms(3, None, 1234)));
        assert!(backoff_ms(30, None, u16::MAX) <= 30_000);
        assert_eq!(backoff_ms(1, Some(5), 0), 5000);
    }
}
