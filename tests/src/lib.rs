//! Scenario harness: one [`TestApp`] per test with a fresh database, driven
//! either in-process through the core's handler or over HTTP against a
//! running `spin up`. Scenarios are written once against [`TestApp`].

pub mod fake_provider;
pub mod scenarios;
pub mod spin;
pub mod target;

pub use target::{Backend, Database, TestApp, TestResponse};

/// A response body written chunk by chunk through the returned sender (a
/// gateway stream relayed by a test server); dropping the body closes it.
pub fn channel_body() -> (tokio::sync::mpsc::Sender<Vec<u8>>, axum::body::Body) {
    let (chunks, body) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let body = futures::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(chunk)), body))
    });
    (chunks, axum::body::Body::from_stream(body))
}

/// The bootstrap admin key every test app is configured with.
pub const ADMIN_KEY: &str = "pl-test-admin-key";

/// One `#[tokio::test]` per function and backend: `$name(Backend)` runs
/// once on PostgreSQL (module `postgres`) and once on SQLite (`sqlite`).
#[macro_export]
macro_rules! both_backends {
    // One thread per test: every request sees the same thread-local state,
    // as requests to one Spin instance do.
    (current_thread: $($name:ident),* $(,)?) => {
        $crate::both_backends!(@tests (), $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::both_backends!(@tests (flavor = "multi_thread", worker_threads = 2), $($name),*);
    };
    (@tests $args:tt, $($name:ident),*) => {
        mod postgres { $(
            #[tokio::test $args]
            async fn $name() { super::$name($crate::Backend::Postgres).await }
        )* }
        mod sqlite { $(
            #[tokio::test $args]
            async fn $name() { super::$name($crate::Backend::Sqlite).await }
        )* }
    };
}

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
            foundation::nul_characters_are_refused_with_their_field,
            foundation::cors_serves_listed_origins_only,
            limits::rate_limits_hold_per_key,
            limits::budgets_stop_spending_keys,
            // registry (prompts, versions, labels, rendering)
            prompts::prompts_create_get_and_update,
            prompts::prompts_list_paginates_and_filters,
            prompts::prompts_archive_and_unarchive,
            prompts::versions_are_numbered_immutable_and_deduplicated,
            prompts::activation_and_rollback,
            prompts::labels_and_resolution_order,
            prompts::rendering_checks_variables_and_limits,
            prompts::chat_prompts_render_messages,
            prompts::register_from_code_is_idempotent,
            prompts::diff_between_versions,
            prompts::prompt_scopes_guard_reads_and_writes,

            // executions
            executions::sync_run_records_the_ledger,
            executions::a_slow_run_is_visible_while_the_provider_works,
            executions::traceparent_places_the_execution_in_a_trace,
            executions::provider_failures_are_recorded,
            executions::bad_requests_fail_before_any_provider_call,
            executions::idempotent_retries_never_call_twice,
            executions::async_run_is_queued_then_drained_by_the_beat,
            executions::queued_runs_can_be_canceled,
            executions::executions_are_listed_with_filters,
            executions::chat_messages_and_anthropic,
            executions::seed_smoke_request_and_mock_provider,
            executions::model_prices_are_admin_editable,
            executions::an_execution_is_a_span_in_its_trace,

            // the OpenAI- and Anthropic-compatible gateway
            gateway::gateway_chat_completions_pass_through_and_are_recorded,
            gateway::gateway_tool_calls_round_trip,
            gateway::gateway_messages_speak_anthropic,
            gateway::gateway_fallbacks_record_every_attempt,
            gateway::gateway_idempotent_retries_replay_the_answer,
            gateway::gateway_renders_registered_prompts,
            gateway::gateway_errors_use_the_vendor_shapes,
            gateway::gateway_streams_events_in_the_callers_format,
            gateway::gateway_streams_translate_fall_back_and_fail_midway,
            gateway::gateway_relays_events_as_they_arrive_and_records_hang_ups,

            // lineage and analytics
            lineage::prela_and_otlp_round_trip_to_the_same_tree,
            lineage::otlp_protobuf_and_gzip_map_like_json,
            lineage::children_may_arrive_before_their_parents,
            lineage::resending_a_span_updates_it,
            lineage::malformed_batches_report_bad_spans_by_index,
            lineage::traces_list_with_filters_and_pagination,
            analytics::analytics_answer_empty_ranges_and_check_parameters,

        }
    };
}
