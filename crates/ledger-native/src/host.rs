//! A native [`Host`]: real databases, an in-process key-value map, Redis when
//! configured, real outbound HTTP.

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
    pub clock: Box<dyn Clock + Send + Sync>,
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
            clock: Box::new(SystemClock),
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
}
