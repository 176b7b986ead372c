//! Typed configuration, read once per request from the host's variables.

/// Settings the core needs. Built by the adapters from Spin variables or the
/// environment; every field has a safe default except the bootstrap key.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Bootstrap admin key (`API_KEY`). Empty disables it.
    pub api_key: String,
    /// PostgreSQL URL; empty means the embedded SQLite database.
    pub database_url: String,
    /// Redis URL; empty means no queue and no worker.
    pub redis_url: String,
    pub openai_api_key: String,
    pub openai_base_url: String,
    pub anthropic_api_key: String,
    pub anthropic_base_url: String,
    /// Days of executions and spans to keep; 0 keeps everything.
    pub retention_days: i64,
    /// Origins allowed to call the API from a browser (`CORS_ORIGINS`,
    /// comma-separated, `*` for any); empty turns CORS off.
    pub cors_origins: Vec<String>,
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com/v1";

impl Config {
    /// Builds a config from a lookup of lower-case variable names
    /// (`api_key`, `database_url`, ...). Missing names take defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let text = |name: &str| get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        let or_default = |name: &str, default: &str| {
            let v = text(name);
            if v.is_empty() { default.to_owned() } else { v.trim_end_matches('/').to_owned() }
        };
        let retention = text("retention_days");
        let retention_days = if retention.is_empty() {
            0
        } else {
            retention
                .parse::<i64>()
                .ok()
                .filter(|d| *d >= 0)
                .ok_or_else(|| format!("retention_days must be a whole number of days, got `{retention}`"))?
        };
        Ok(Config {
            api_key: text("api_key"),
            database_url: text("database_url"),
            redis_url: text("redis_url"),
            openai_api_key: text("openai_api_key"),
            openai_base_url: or_default("openai_base_url", DEFAULT_OPENAI_BASE_URL),
            anthropic_api_key: text("anthropic_api_key"),
            anthropic_base_url: or_default("anthropic_base_url", DEFAULT_ANTHROPIC_BASE_URL),
            retention_days,
            cors_origins: crate::api::cors::parse_origins(&text("cors_origins")),
        })
    }

    pub fn uses_postgres(&self) -> bool {
        !self.database_url.is_empty()
    }

    pub fn has_redis(&self) -> bool {
        !self.redis_url.is_empty()
    }

    /// Whether every process serving the app sees the same key-value store,
    /// as deployments wire it: with Redis configured the store is Redis;
    /// with SQLite there is one process. PostgreSQL without Redis may have
    /// replicas with a local store each, where caches could not be kept
    /// correct.
    pub fn kv_is_shared(&self) -> bool {
        self.has_redis() || !self.uses_postgres()
    }
}

/// The variable names the adapters read, in one place.
pub const VARIABLES: &[&str] = &[
    "api_key",
    "database_url",
    "redis_url",
    "openai_api_key",
    "openai_base_url",
    "anthropic_api_key",
    "anthropic_base_url",
    "retention_days",
    "cors_origins",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn defaults_apply_when_unset() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert!(!c.uses_postgres());
        assert!(!c.has_redis());
        assert_eq!(c.openai_base_url, DEFAULT_OPENAI_BASE_URL);
        assert_eq!(c.retention_days, 0);
    }

    #[test]
    fn trailing_slash_is_trimmed_and_retention_validated() {
        let c = Config::from_lookup(lookup(&[("openai_base_url", "http://x/v1/"), ("retention_days", "30")])).unwrap();
        assert_eq!(c.openai_base_url, "http://x/v1");
        assert_eq!(c.retention_days, 30);
        assert!(Config::from_lookup(lookup(&[("retention_days", "-1")])).is_err());
    }

    #[test]
    fn caches_need_a_store_every_process_shares() {
        let config = |pairs: &[(&str, &str)]| Config::from_lookup(lookup(pairs)).unwrap();
        assert!(config(&[]).kv_is_shared(), "SQLite: one process");
        assert!(!config(&[("database_url", "postgres://db/x")]).kv_is_shared());
        assert!(config(&[("database_url", "postgres://db/x"), ("redis_url", "redis://r")]).kv_is_shared());
    }
}
