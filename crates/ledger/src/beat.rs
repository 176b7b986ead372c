//! The beat: the periodic pass (executions, rollups, retention), run by the
//! cron component and by `POST /v1/internal/beat`. Every part is bounded in
//! time and safe to run concurrently with itself.

use std::time::Duration;

use serde::Serialize;

use crate::analytics::rollup::{self, RollupReport};
use crate::executions::worker::{self, DrainReport};
use crate::ports::Host;
use crate::retention::{self, RetentionReport};

/// Time the execution work may take per pass; cron runs it again soon after.
const EXECUTIONS_BUDGET: Duration = Duration::from_secs(20);

#[derive(Debug, Default, Serialize)]
pub struct BeatReport {
    pub executions: Option<DrainReport>,
    pub rollups: Option<RollupReport>,
    pub retention: Option<RetentionReport>,
    /// Parts that failed this pass; the next pass retries them.
    pub errors: Vec<String>,
}

pub async fn run_pass<H: Host>(host: &H) -> BeatReport {
    let mut report = BeatReport::default();
    match worker::drain(host, EXECUTIONS_BUDGET).await {
        Ok(r) => report.executions = Some(r),
        Err(e) => report.errors.push(format!("executions: {e}")),
    }
    match rollup::fold(host, host.clock().now_ms()).await {
        Ok(r) => report.rollups = Some(r),
        Err(e) => report.errors.push(format!("rollups: {e}")),
    }
    match retention::apply(host, host.clock().now_ms()).await {
        Ok(r) => report.retention = Some(r),
        Err(e) => report.errors.push(format!("retention: {e}")),
    }
    if let Err(e) = crate::limits::prune(host).await {
        report.errors.push(format!("rate-limit windows: {e}"));
    }
    report
}
