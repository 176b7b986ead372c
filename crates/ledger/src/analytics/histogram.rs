//! A mergeable latency histogram with fixed log-scale buckets, so hourly
//! rollups can be added together and percentiles read from the sum.

use serde_json::Value as Json;

/// Inclusive upper bounds (ms) of the buckets: each about 1.25 times the
/// previous (at least 1 ms wider), from 1 ms to about 12 minutes. Stored
/// histograms index these buckets, so this list must never change.
pub const BOUNDS_MS: [i64; 58] = [
    1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 31, 39, 49, 61, 76, 95, 119, 149, 186, 233, 291, 364, 455, 569, 711, 889,
    1111, 1389, 1736, 2170, 2713, 3391, 4239, 5299, 6624, 8280, 10350, 12938, 16173, 20216, 25270, 31588, 39485, 49356,
    61695, 77119, 96399, 120499, 150624, 188280, 235350, 294188, 367735, 459669, 574586, 718233,
];

/// The buckets, plus one for everything above the last bound.
pub const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// Counts per bucket (trailing empty buckets are not kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<i64>,
}

impl Histogram {
    /// The bucket holding a latency: bucket `i` holds (`BOUNDS_MS[i-1]`, `BOUNDS_MS[i]`].
    pub fn bucket_of(latency_ms: i64) -> usize {
        BOUNDS_MS.partition_point(|bound| *bound < latency_ms)
    }

    /// The (exclusive lower, inclusive upper) bounds of a bucket; the last
    /// bucket is open-ended and reports its lower bound for both.
    pub fn bucket_bounds(bucket: usize) -> (i64, i64) {
        let lower = if bucket == 0 { 0 } else { BOUNDS_MS[(bucket - 1).min(BOUNDS_MS.len() - 1)] };
        let upper = BOUNDS_MS.get(bucket).copied().unwrap_or(lower);
        (lower, upper)
    }

    pub fn record(&mut self, latency_ms: i64) {
        self.add(Self::bucket_of(latency_ms), 1);
    }

    pub fn add(&mut self, bucket: usize, count: i64) {
        let bucket = bucket.min(BUCKETS - 1);
        if count == 0 {
            return;
        }
        if self.counts.len() <= bucket {
            self.counts.resize(bucket + 1, 0);
        }
        self.counts[bucket] += count;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (bucket, count) in other.counts.iter().enumerate() {
            self.add(bucket, *count);
        }
    }

    pub fn total(&self) -> i64 {
        self.counts.iter().sum()
    }

    /// The `q`-quantile (0 < q ≤ 1) by nearest rank, interpolated linearly
    /// inside its bucket: always within the bucket of the true value, so off
    /// by at most that bucket's width. `None` when empty.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as i64).clamp(1, total);
        let mut before = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            if *count > 0 && before + count >= rank {
                let (lower, upper) = Self::bucket_bounds(bucket);
                let fraction = (rank - before) as f64 / *count as f64;
                return Some(lower as f64 + (upper - lower) as f64 * fraction);
            }
            before += count;
        }
        None
    }

    /// Stored form: a JSON array of counts by bucket.
    pub fn to_json(&self) -> Json {
        Json::Array(self.counts.iter().map(|c| Json::from(*c)).collect())
    }

    /// Parses the stored text form. Plain `[n, n, ...]` arrays take a fast
    /// path (summaries read thousands of these); anything else goes through
    /// the JSON parser.
    pub fn parse(text: &str) -> Result<Histogram, String> {
        let fast = || -> Option<Histogram> {
            let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
            let mut h = Histogram::default();
            if inner.is_empty() {
                return Some(h);
            }
            for (bucket, item) in inner.split(',').enumerate() {
                let item = item.trim();
                if bucket >= BUCKETS || item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                h.add(bucket, item.parse().ok()?);
            }
            Some(h)
        };
        match fast() {
            Some(h) => Ok(h),
            None => {
                let value: Json = serde_json::from_str(text).map_err(|e| format!("latency histogram: {e}"))?;
                Histogram::from_json(&value)
            }
        }
    }

    pub fn from_json(v: &Json) -> Result<Histogram, String> {
        let items = v.as_array().ok_or("latency histogram: expected an array")?;
        if items.len() > BUCKETS {
            return Err(format!("latency histogram: {} buckets, at most {BUCKETS} expected", items.len()));
        }
        let mut h = Histogram::default();
        for (bucket, item) in items.iter().enumerate() {
            let count = item.as_i64().filter(|c| *c >= 0).ok_or("latency histogram: counts must be whole numbers")?;
            h.add(bucket, count);
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_percentile(sorted: &[i64], q: f64) -> i64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn bounds_grow_by_a_quarter_and_buckets_partition_the_line() {
        for pair in BOUNDS_MS.windows(2) {
            assert!(pair[1] > pair[0]);
            assert!(pair[1] as f64 <= (pair[0] as f64 * 1.25).round().max(pair[0] as f64 + 1.0));
        }
        assert!(*BOUNDS_MS.last().unwrap() >= 600_000);
        assert_eq!(Histogram::bucket_of(0), 0);
        assert_eq!(Histogram::bucket_of(1), 0);
        assert_eq!(Histogram::bucket_of(2), 1);
        assert_eq!(Histogram::bucket_of(7), 6);
        assert_eq!(Histogram::bucket_of(8), 6);
        assert_eq!(Histogram::bucket_of(9), 7);
        assert_eq!(Histogram::bucket_of(10_000_000), BUCKETS - 1);
        for ms in [1, 7, 99, 1234, 600_000] {
            let (lower, upper) = Histogram::bucket_bounds(Histogram::bucket_of(ms));
            assert!(lower < ms && ms <= upper, "{ms} in ({lower}, {upper}]");
        }
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
        for ms in 0..500 {
            let latency = ms * 37 % 4000;
            if ms % 3 == 0 {
                a.record(latency)
            } else {
                b.record(latency)
            }
            all.record(latency);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.total(), 500);
        assert_eq!(Histogram::from_json(&a.to_json()).unwrap(), a);
        assert_eq!(Histogram::default().percentile(0.5), None);
    }

    #[test]
    fn percentiles_stay_within_one_bucket_of_the_truth() {
        let mut values: Vec<i64> = (0..1000).map(|i| 20 + (i * i * 7919) % 30_000).collect();
        let mut h = Histogram::default();
        values.iter().for_each(|v| h.record(*v));
        values.sort_unstable();
        for q in [0.01, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let truth = exact_percentile(&values, q);
            let (lower, upper) = Histogram::bucket_bounds(Histogram::bucket_of(truth));
            let got = h.percentile(q).unwrap();
            assert!(got > lower as f64 && got <= upper as f64, "q={q}: {got} outside ({lower}, {upper}] of {truth}");
            assert!((got - truth as f64).abs() <= (upper - lower) as f64);
        }
        let mut one = Histogram::default();
        one.record(250);
        assert_eq!(one.percentile(0.99), Some(Histogram::bucket_bounds(Histogram::bucket_of(250)).1 as f64));
    }

    #[test]
    fn stored_histograms_are_checked() {
        let mut h = Histogram::default();
        [3, 3, 70, 5000].iter().for_each(|ms| h.record(*ms));
        assert_eq!(Histogram::parse(&h.to_json().to_string()), Ok(h.clone()));
        assert_eq!(
            Histogram::parse(" [ 0, 0 ,2 ] "),
            Ok({
                let mut x = Histogram::default();
                x.add(2, 2);
                x
            })
        );
        assert_eq!(Histogram::parse("[]"), Ok(Histogram::default()));
        assert!(Histogram::parse("[1, -1]").is_err());
        assert!(Histogram::parse("[1.5]").is_err());
        assert!(Histogram::parse("nope").is_err());
        assert!(Histogram::from_json(&serde_json::json!({})).is_err());
        assert!(Histogram::from_json(&serde_json::json!([1, -2])).is_err());
        assert!(Histogram::from_json(&serde_json::json!(vec![0; BUCKETS + 1])).is_err());
    }
}
