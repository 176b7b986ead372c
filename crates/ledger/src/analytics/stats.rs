//! Totals over a set of rollup rows, and their JSON form.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::histogram::Histogram;
use crate::store::rollups::RollupRow;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub executions: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub canceled: i64,
    /// Failed executions by error type (`unknown` when none was recorded).
    pub errors_by_type: BTreeMap<String, i64>,
    pub prompt_tokens: i64,
    pub response_tokens: i64,
    pub cost_nanos: i64,
    pub latency_sum_ms: i64,
    pub latency: Histogram,
}

impl Stats {
    pub fn add(&mut self, row: &RollupRow) {
        self.executions += row.executions;
        match row.status.as_str() {
            "succeeded" => self.succeeded += row.executions,
            "failed" => {
                self.failed += row.executions;
                let kind = if row.error_type.is_empty() { "unknown" } else { row.error_type.as_str() };
                *self.errors_by_type.entry(kind.to_owned()).or_default() += row.executions;
            }
            "canceled" => self.canceled += row.executions,
            _ => {}
        }
        self.prompt_tokens += row.prompt_tokens;
        self.response_tokens += row.response_tokens;
        self.cost_nanos += row.cost_nanos;
        self.latency_sum_ms += row.latency_sum_ms;
        self.latency.merge(&row.latency);
    }

    pub fn of<'a>(rows: impl IntoIterator<Item = &'a RollupRow>) -> Stats {
        let mut s = Stats::default();
        rows.into_iter().for_each(|r| s.add(r));
        s
    }

    /// Succeeded out of succeeded + failed; canceled runs count as neither.
    pub fn success_rate(&self) -> Option<f64> {
        let decided = self.succeeded + self.failed;
        (decided > 0).then(|| self.succeeded as f64 / decided as f64)
    }

    /// The JSON fields every analytics object shares.
    pub fn to_json(&self) -> Json {
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        let count = self.latency.total();
        json!({
            "executions": self.executions,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "canceled": self.canceled,
            "success_rate": self.success_rate().map(round),
            "errors_by_type": self.errors_by_type,
            "prompt_tokens": self.prompt_tokens,
            "response_tokens": self.response_tokens,
            "total_tokens": self.prompt_tokens + self.response_tokens,
            "cost_usd": self.cost_nanos as f64 / 1e9,
            "cost_nanos": self.cost_nanos,
            "latency_ms": {
                "count": count,
                "mean": (count > 0).then(|| round(self.latency_sum_ms as f64 / count as f64)),
                "p50": self.latency.percentile(0.50).map(round),
                "p95": self.latency.percentile(0.95).map(round),
                "p99": self.latency.percentile(0.99).map(round),
            },
        })
    }
}

/// `label` fields followed by the stats fields, in one object.
pub fn labelled(label: Json, stats: &Stats) -> Json {
    let mut out = label;
    if let (Some(obj), Json::Object(fields)) = (out.as_object_mut(), stats.to_json()) {
        obj.extend(fields);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, error_type: &str, executions: i64, latency: &[i64]) -> RollupRow {
        let mut hist = Histogram::default();
        latency.iter().for_each(|l| hist.record(*l));
        RollupRow {
            bucket_start: 0,
            prompt_version_id: "v".into(),
            prompt_id: "p".into(),
            version: Some(1),
            provider: "mock".into(),
            model_name: "m".into(),
            status: status.into(),
            error_type: error_type.into(),
            executions,
            prompt_tokens: 10 * executions,
            response_tokens: 5 * executions,
            cost_nanos: 1_500_000_000 * executions,
            latency_sum_ms: latency.iter().sum(),
            latency: hist,
        }
    }

    #[test]
    fn totals_split_by_status_and_error_type() {
        let s = Stats::of(&[
            row("succeeded", "", 3, &[100, 200, 300]),
            row("failed", "timeout", 1, &[5000]),
            row("failed", "", 1, &[]),
            row("canceled", "", 1, &[]),
        ]);
        assert_eq!((s.executions, s.succeeded, s.failed, s.canceled), (6, 3, 2, 1));
        assert_eq!(s.success_rate(), Some(0.6));
        let j = s.to_json();
        assert_eq!(j["errors_by_type"], json!({"timeout": 1, "unknown": 1}));
        assert_eq!((j["total_tokens"].as_i64(), j["cost_nanos"].as_i64()), (Some(90), Some(9_000_000_000)));
        assert_eq!(j["cost_usd"], 9.0);
        assert_eq!((j["latency_ms"]["count"].as_i64(), j["latency_ms"]["mean"].as_f64()), (Some(4), Some(1400.0)));
        assert!(Stats::default().to_json()["success_rate"].is_null());
    }
}
