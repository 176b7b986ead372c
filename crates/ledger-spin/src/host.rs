//! [`Host`] for Spin components: configuration from Spin variables, the
//! key-value store `default`, Redis publish for the worker queue.

use std::cell::RefCell;
use std::rc::Rc;

use ledger::Config;
use ledger::config::VARIABLES;
use ledger::ports::{Clock, Host, Ids, Kv, Queue, SystemClock, V7Ids};
use spin_sdk::{key_value, redis, variables};

use crate::db::SpinDb;
use crate::outbound::SpinHttp;

thread_local! {
    // Variables are fixed for the life of the app; an instance serves up to
    // 128 requests, so reading them once per instance saves host calls.
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
}

pub struct SpinHost {
    db: SpinDb,
    kv: SpinKv,
    queue: Option<SpinQueue>,
    http: SpinHttp,
    config: Config,
}

impl SpinHost {
    /// # Errors
    /// A variable that cannot be read or does not parse.
    pub async fn from_variables() -> Result<SpinHost, String> {
        if let Some(config) = CONFIG.with(|c| c.borrow().clone()) {
            return Ok(SpinHost::new(config));
        }
        let config = Self::read_variables().await?;
        CONFIG.with(|c| *c.borrow_mut() = Some(config.clone()));
        Ok(SpinHost::new(config))
    }

    async fn read_variables() -> Result<Config, String> {
        let mut values = Vec::with_capacity(VARIABLES.len());
        for name in VARIABLES {
            // Every variable has a default in spin.toml; an error here means
            // the manifest and this build disagree.
            let value = variables::get(name).await.map_err(|e| format!("variable {name}: {e:?}"))?;
            values.push((*name, value));
        }
        Config::from_lookup(|name| values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
    }

    pub fn new(config: Config) -> SpinHost {
        SpinHost {
            db: SpinDb::new(&config.database_url),
            kv: SpinKv,
            queue: config.has_redis().then(|| SpinQueue { url: config.redis_url.clone() }),
            http: SpinHttp,
            config,
        }
    }
}

impl Host for SpinHost {
    type Db = SpinDb;
    type Kv = SpinKv;
    type Queue = SpinQueue;
    type Http = SpinHttp;

    fn db(&self) -> &SpinDb {
        &self.db
    }
    fn kv(&self) -> &SpinKv {
        &self.kv
    }
    fn queue(&self) -> Option<&SpinQueue> {
        self.queue.as_ref()
    }
    fn http(&self) -> &SpinHttp {
        &self.http
    }
    fn clock(&self) -> &dyn Clock {
        &SystemClock
    }
    fn ids(&self) -> &dyn Ids {
        &V7Ids
    }
    fn config(&self) -> &Config {
        &self.config
    }
    async fn sleep(&self, duration: std::time::Duration) {
        spin_sdk::wasip3::clocks::monotonic_clock::wait_for(duration.as_nanos() as u64).await;
    }
    fn fork(&self) -> Self {
        SpinHost::new(self.config.clone())
    }
}

/// The `default` key-value store (Spin's local store, or Redis through the
/// runtime config).
pub struct SpinKv;

thread_local! {
    // Opening the store costs a host round trip (a PING with Redis), so an
    // instance opens it once and keeps it for all its requests.
    static KV_STORE: RefCell<Option<Rc<key_value::Store>>> = const { RefCell::new(None) };
}

impl SpinKv {
    async fn store(&self) -> Result<Rc<key_value::Store>, String> {
        if let Some(store) = KV_STORE.with_borrow(Option::clone) {
            return Ok(store);
        }
        let store = Rc::new(key_value::Store::open_default().await.map_err(|e| format!("{e:?}"))?);
        KV_STORE.with_borrow_mut(|slot| *slot = Some(store.clone()));
        Ok(store)
    }
}

impl Kv for SpinKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let store = self.store().await?;
        store.get(key).await.map_err(|e| format!("{e:?}"))
    }
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let store = self.store().await?;
        store.set(key, value).await.map_err(|e| format!("{e:?}"))
    }
    async fn delete(&self, key: &str) -> Result<(), String> {
        let store = self.store().await?;
        store.delete(key).await.map_err(|e| format!("{e:?}"))
    }
}

pub struct SpinQueue {
    url: String,
}

impl Queue for SpinQueue {
    // A connection per publish: with connections kept across requests of an
    // instance, a quarter of 1,000 publishes never reached the worker under
    // Spin 4.0.2 (each returned Ok).
    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), String> {
        let conn = redis::Connection::open(&self.url).await.map_err(|e| format!("{e:?}"))?;
        conn.publish(channel, payload).await.map_err(|e| format!("{e:?}"))
    }

    async fn ping(&self) -> Result<(), String> {
        let conn = redis::Connection::open(&self.url).await.map_err(|e| format!("{e:?}"))?;
        conn.execute("PING", []).await.map(drop).map_err(|e| format!("{e:?}"))
    }
}
