//! API keys: presented in `X-API-Key` or `Authorization: Bearer`, stored only
//! as a SHA-256 hash, each with one scope.

use std::cell::RefCell;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::request::ApiRequest;
use crate::cache::{self, Memo};
use crate::error::{ApiError, ApiResult};
use crate::ports::Host;
use crate::store::api_keys;

/// The subject of the stored keys' generation (see [`crate::cache`]):
/// moved after every key is created or revoked.
const KEYS_GENERATION: &str = "api-keys-gen";

thread_local! {
    /// Stored-key checks by key hash (`None`: no such active key), valid
    /// under the generation they were made in.
    static CHECKED_KEYS: RefCell<Memo<Option<Principal>>> = RefCell::new(Memo::new(1024));
}

/// Scopes are ordered: `admin` ⊇ `write` ⊇ `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `None` for the bootstrap key from configuration.
    pub key_id: Option<String>,
    pub name: String,
    pub scope: Scope,
    /// The key's guard rails (see [`crate::limits`]); `None` is unlimited.
    pub rate_limit_per_minute: Option<i64>,
    pub monthly_budget_nanos: Option<i64>,
}

impl Principal {
    /// # Errors
    /// 403 when this key's scope is below `needed`.
    pub fn require(&self, needed: Scope) -> ApiResult<()> {
        if self.scope >= needed { Ok(()) } else { Err(ApiError::forbidden(needed.as_str())) }
    }
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key a request presents, if any.
pub fn presented_key(req: &ApiRequest) -> Option<&str> {
    if let Some(key) = req.header("x-api-key").filter(|k| !k.is_empty()) {
        return Some(key);
    }
    let auth = req.header("authorization")?;
    let (scheme, token) = auth.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Resolves the caller's key. Stored keys are checked against the
/// database once per instance and key generation.
///
/// # Errors
/// 401 when no key or an unknown/revoked key is presented; 503 when the
/// database cannot be reached to check a stored key.
pub async fn authenticate<H: Host>(host: &H, req: &ApiRequest) -> ApiResult<Principal> {
    let key = presented_key(req).ok_or_else(ApiError::unauthorized)?;
    let hash = hash_key(key);
    let bootstrap = &host.config().api_key;
    // Compare digests so the comparison time does not depend on the key.
    if !bootstrap.is_empty() && bool::from(hash.as_bytes().ct_eq(hash_key(bootstrap).as_bytes())) {
        return Ok(Principal {
            key_id: None,
            name: "bootstrap".into(),
            scope: Scope::Admin,
            rate_limit_per_minute: None,
            monthly_budget_nanos: None,
        });
    }
    let now = host.clock().now_ms();
    let generation = cache::shared_generation(host, &cache::generation_key(host.config(), KEYS_GENERATION)).await;
    if let Some(generation) = &generation
        && let Some(checked) = CHECKED_KEYS.with_borrow(|memo| memo.get(&hash, generation, now))
    {
        return checked.ok_or_else(ApiError::unauthorized);
    }
    let found = match api_keys::find_active_by_hash(host.db(), &hash).await? {
        None => None,
        Some(record) => {
            let scope =
                Scope::parse(&record.scope).ok_or_else(|| ApiError::internal("stored key has an unknown scope"))?;
            Some(Principal {
                key_id: Some(record.id),
                name: record.name,
                scope,
                rate_limit_per_minute: record.rate_limit_per_minute,
                monthly_budget_nanos: record.monthly_budget_nanos,
            })
        }
    };
    if let Some(generation) = &generation {
        CHECKED_KEYS.with_borrow_mut(|memo| memo.put(&hash, generation, now, found.clone()));
    }
    found.ok_or_else(ApiError::unauthorized)
}

/// Makes earlier key checks unreachable: call after a key was created or
/// revoked, before the request returns.
pub async fn keys_changed<H: Host>(host: &H) {
    cache::advance(host.kv(), host.ids(), &cache::generation_key(host.config(), KEYS_GENERATION)).await;
}

/// A new secret key: `pl_` and 256 bits of randomness in hex.
pub fn generate_key() -> String {
    format!("pl_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> ApiRequest {
        let mut b = http::Request::builder().uri("/v1/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        ApiRequest::from_http(b.body(Vec::new()).unwrap())
    }

    #[test]
    fn keys_are_read_from_either_header() {
        assert_eq!(presented_key(&request(&[("x-api-key", "abc")])), Some("abc"));
        assert_eq!(presented_key(&request(&[("authorization", "Bearer abc")])), Some("abc"));
        assert_eq!(presented_key(&request(&[("authorization", "bearer  abc ")])), Some("abc"));
        assert_eq!(presented_key(&request(&[("authorization", "Basic abc")])), None);
        assert_eq!(presented_key(&request(&[])), None);
    }

    #[test]
    fn scopes_nest() {
        let p = Principal {
            key_id: None,
            name: "w".into(),
            scope: Scope::Write,
            rate_limit_per_minute: None,
            monthly_budget_nanos: None,
        };
        assert!(p.require(Scope::Read).is_ok());
        assert!(p.require(Scope::Write).is_ok());
        assert_eq!(p.require(Scope::Admin).unwrap_err().status, 403);
    }

    #[test]
    fn generated_keys_are_unique_and_hashed_to_hex() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(hash_key(&a).len(), 64);
    }
}
