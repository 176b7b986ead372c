//! A native [`Host`]: real databases, an in-process key-value map, Redis when
//! configured, real outbound HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ledger::Config;
use ledger::ports::{Clock, Host, Ids, SystemClock, V7Ids};

use crate::db::NativeDb;
use crate::http_client::NativeHttp;
use crate::kv::{MemoryKv, RedisQueue};

pub struct NativeHost {
    pub db: NativeDb,
    pub kv: MemoryKv,
    pub queue: Option<RedisQueue>,
    pub http: NativeHttp,
    pub clock: Arc<dyn Clock + Send + Sync>,
    pub config: Config,
}

impl NativeHost {
    pub fn new(db: NativeDb, config: Config) -> Self {
        let queue = if config.has_redis() { RedisQueue::new(&config.redis_url).ok() } else { None };
        NativeHost {
            db,
            kv: MemoryKv::default(),
            queue,
            http: NativeHttp::default(),
            clock: Arc::new(SystemClock),
            config,
        }
    }
}

impl Host for NativeHost {
    type Db = NativeDb;
    type Kv = MemoryKv;
    type Queue = RedisQueue;
    type Http = NativeHttp;

    fn db(&self) -> &NativeDb {
        &self.db
    }
    fn kv(&self) -> &MemoryKv {
        &self.kv
    }
    fn queue(&self) -> Option<&RedisQueue> {
        self.queue.as_ref()
    }
    fn http(&self) -> &NativeHttp {
        &self.http
    }
    fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }
    fn ids(&self) -> &dyn Ids {
        &V7Ids
    }
    fn config(&self) -> &Config {
        &self.config
    }
    /// Replicas made from one host share its map, as Redis is shared.
    fn kv_is_shared(&self) -> bool {
        true
    }
    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
    fn fork(&self) -> Self {
        NativeHost {
            db: self.db.reconnect(),
            kv: self.kv.clone(),
            queue: self.queue.clone(),
            http: self.http.clone(),
            clock: self.clock.clone(),
            config: self.config.clone(),
        }
    }
}

/// System time shifted by an adjustable offset: tests move time forward to
/// expire leases and back-offs without waiting.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
}

impl OffsetClock {
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}
