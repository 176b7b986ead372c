//! Key-value and queue ports: an in-process map (what Spin's default store is
//! to one process) and Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ledger::ports::{Kv, Queue};

/// A map shared by every clone, so several hosts in one test behave like
/// replicas in front of one store.
#[derive(Clone, Default)]
pub struct MemoryKv(Arc<Mutex<HashMap<String, Vec<u8>>>>);

impl MemoryKv {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

impl Kv for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.map().get(key).cloned())
    }
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), String> {
        self.map().remove(key);
        Ok(())
    }
}

/// Publishes to Redis channels (the worker's trigger).
#[derive(Clone)]
pub struct RedisQueue {
    client: redis::Client,
}

impl RedisQueue {
    pub fn new(url: &str) -> Result<Self, String> {
        redis::Client::open(url).map(|client| RedisQueue { client }).map_err(|e| e.to_string())
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, String> {
        self.client.get_multiplexed_async_connection().await.map_err(|e| e.to_string())
    }
}

impl Queue for RedisQueue {
    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), String> {
        let mut conn = self.connection().await?;
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn ping(&self) -> Result<(), String> {
        let mut conn = self.connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(drop).map_err(|e| e.to_string())
    }
}
