//! Model rows (ids and prices) cached per instance for a few seconds: every
//! execution needs one, and prices change rarely. An admin's price change
//! reaches every instance within [`TTL_MS`].

use std::cell::RefCell;
use std::collections::HashMap;

use crate::ports::{DbError, Host};
use crate::store::models::{self, ModelRecord};

pub const TTL_MS: i64 = 10_000;

thread_local! {
    static MODELS: RefCell<HashMap<(String, String), (ModelRecord, i64)>> = RefCell::new(HashMap::new());
}

/// The model row for `provider`/`model_name`, created at zero price on first use.
pub async fn model<H: Host>(host: &H, provider: &str, model_name: &str) -> Result<ModelRecord, DbError> {
    let now = host.clock().now_ms();
    let key = (provider.to_owned(), model_name.to_owned());
    let cached = MODELS.with(|m| m.borrow().get(&key).filter(|(_, at)| now - at < TTL_MS).map(|(r, _)| r.clone()));
    if let Some(record) = cached {
        return Ok(record);
    }
    let record = models::find_or_create(host.db(), &host.ids().new_id().to_string(), provider, model_name, now).await?;
    MODELS.with(|m| {
        let mut map = m.borrow_mut();
        // Bounded: model names come from requests.
        if map.len() >= 1024 {
            map.clear();
        }
        map.insert(key, (record.clone(), now));
    });
    Ok(record)
}
