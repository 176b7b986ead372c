//! The beat: the periodic pass, run by the cron component and by
//! `POST /v1/internal/beat`. Every part is bounded in time and safe to run
//! concurrently with itself.

use std::time::Duration;

use serde::Serialize;

use crate::executions::worker::{self, DrainReport};
use crate::ports::Host;

/// Time the execution work may take per pass; cron runs it again soon after.
const EXECUTIONS_BUDGET: Duration = Duration::from_secs(20);

#[derive(Debug, Default, Serialize)]
pub struct BeatReport {
    pub executions: Option<DrainReport>,
    /// Parts that failed this pass; the next pass retries them.
    pub errors: Vec<String>,
}

pub async fn run_pass<H: Host>(host: &H) -> BeatReport {
    let mut report = BeatReport::default();
    match worker::drain(host, EXECUTIONS_BUDGET).await {
        Ok(r) => report.executions = Some(r),
        Err(e) => report.errors.push(format!("executions: {e}")),
    }
    report
}
