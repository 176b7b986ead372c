//! Scenario harness: one [`TestApp`] per test with a fresh database, driven
//! either in-process through the core's handler or over HTTP against a
//! running `spin up`. Scenarios are written once against [`TestApp`].

pub mod fake_provider;
pub mod scenarios;
pub mod spin;
pub mod target;

pub use target::{Backend, TestApp, TestResponse};

/// The bootstrap admin key every test app is configured with.
pub const ADMIN_KEY: &str = "pl-test-admin-key";

/// Scenarios that run identically in-process and against `spin up`.
/// `$callback!` receives `module::function` paths.
#[macro_export]
macro_rules! all_scenarios {
    ($callback:ident) => {
        $callback! {
            foundation::health_reports_each_check,
            foundation::auth_requires_a_valid_key,
            foundation::api_keys_lifecycle_and_scopes,
            foundation::errors_share_one_json_shape,
            // registry (prompts, versions, labels, rendering)

            // executions

            // lineage and analytics
            lineage::prela_and_otlp_round_trip_to_the_same_tree,
            lineage::children_may_arrive_before_their_parents,
            lineage::resending_a_span_updates_it,
            lineage::malformed_batches_report_bad_spans_by_index,
            lineage::traces_list_with_filters_and_pagination,
            analytics::analytics_answer_empty_ranges_and_check_parameters,

        }
    };
}
