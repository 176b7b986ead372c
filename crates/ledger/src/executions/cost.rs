//! Cost in integer nano-USD, so sums over millions of runs stay exact.

use crate::store::models::ModelRecord;

/// Prices are USD per million tokens: USD/Mtok × 1000 = nano-USD per token.
pub fn cost_nanos(model: &ModelRecord, prompt_tokens: i64, response_tokens: i64) -> i64 {
    let part = |tokens: i64, usd_per_mtok: f64| (tokens as f64 * usd_per_mtok * 1000.0).round() as i64;
    part(prompt_tokens, model.input_usd_per_mtok) + part(response_tokens, model.output_usd_per_mtok)
}

pub fn nanos_to_usd(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

/// USD as given by a client to nano-USD; `None` for negative, non-finite
/// or absurdly large amounts.
pub fn usd_to_nanos(usd: f64) -> Option<i64> {
    (usd.is_finite() && (0.0..=1e9).contains(&usd)).then(|| (usd * 1e9).round() as i64)
}

/// `#[serde(serialize_with)]` for a stored nano-USD amount: USD out.
pub fn serialize_opt_usd<S: serde::Serializer>(nanos: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
    match nanos {
        Some(nanos) => serializer.serialize_f64(nanos_to_usd(*nanos)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_4o_mini_prices() {
        let model = ModelRecord {
            id: "m".into(),
            provider: "openai".into(),
            model_name: "gpt-4o-mini".into(),
            input_usd_per_mtok: 0.15,
            output_usd_per_mtok: 0.6,
            updated_at: 0,
        };
        // 1,000 prompt tokens at $0.15/M and 500 at $0.60/M = $0.00015 + $0.0003.
        assert_eq!(cost_nanos(&model, 1000, 500), 150_000 + 300_000);
        assert!((nanos_to_usd(450_000) - 0.00045).abs() < 1e-12);
        assert_eq!(usd_to_nanos(12.5), Some(12_500_000_000));
        assert_eq!((usd_to_nanos(-1.0), usd_to_nanos(f64::NAN)), (None, None));
    }
}
