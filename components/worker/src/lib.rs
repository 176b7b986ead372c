//! Redis-trigger component: each message on `promptledger.executions` is an
//! execution id to claim and run.

#[spin_sdk::redis_subscriber]
async fn on_message(message: bytes::Bytes) -> Result<(), String> {
    ledger_spin::run_queued(&message).await
}
