//! Analytics over HTTP: shapes, empty ranges and parameter checks. The
//! numbers themselves are checked against seeded executions in
//! `tests/analytics_native.rs`, with the seeding helpers below.

use serde_json::json;

use crate::TestApp;

pub async fn analytics_answer_empty_ranges_and_check_parameters(app: &TestApp) {
    // A range nothing can fall in, even on a shared database.
    let r = app.get("/v1/analytics/summary?since=2999-01-01T00:00:00Z&until=2999-01-02T00:00:00Z").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json["executions"].as_i64(), r.json["cost_nanos"].as_i64()), (Some(0), Some(0)));
    assert!(r.json["success_rate"].is_null() && r.json["latency_ms"]["p50"].is_null());
    assert_eq!(r.json["since"], "2999-01-01T00:00:00.000000Z");
    for list in ["by_provider", "by_model", "top_prompts"] {
        assert_eq!(r.json[list], json!([]), "{list}");
    }
    assert_eq!(r.json["errors_by_type"], json!({}));

    let r = app.get("/v1/analytics/summary").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json["executions"].is_i64() && r.json["since"].is_null() && r.json["until"].is_null());

    for (query, field) in
        [("since=soon", "since"), ("until=1000&since=2000", "until"), ("until=1000&since=1000", "until")]
    {
        let r = app.get(&format!("/v1/analytics/summary?{query}")).await;
        assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some(field)), "{query}");
    }
    let r = app.get(&format!("/v1/analytics/prompts/{}?bucket=week", super::unique("p"))).await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("bucket")));
    let r = app.get(&format!("/v1/analytics/prompts/{}", super::unique("missing"))).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    assert_eq!(app.get("/v1/analytics/nothing").await.status, 404);
    assert_eq!(app.post("/v1/analytics/summary", json!({})).await.status, 405);

    let read = app.key_with_scope("read").await;
    let r = app.request(http::Method::GET, "/v1/analytics/summary").key(&read).send().await;
    assert_eq!(r.status, 200);
    let r = app.request(http::Method::GET, "/v1/analytics/summary").without_key().send().await;
    assert_eq!(r.status, 401);
}

/// Test-only helpers that write prompts and executions straight into the
/// database, so analytics can be checked against rows chosen by the test.
pub mod seed {
    use ledger::ports::{Db, Value};

    pub struct Prompt {
        pub id: String,
        pub name: String,
        /// (prompt_version_id, version), version 1 first.
        pub versions: Vec<(String, i64)>,
    }

    /// A prompt with `versions` versions (the last one active).
    pub async fn prompt<D: Db>(db: &D, name: &str, versions: i64) -> Prompt {
        let id = uuid::Uuid::now_v7().to_string();
        db.execute(
            "INSERT INTO prompts (id, name, mode, latest_version, created_at, updated_at) VALUES ($1, $2, 'full', $3, 0, 0)",
            &[id.as_str().into(), name.into(), versions.into()],
        )
        .await
        .expect("insert prompt");
        let mut out = Vec::new();
        for version in 1..=versions {
            let version_id = uuid::Uuid::now_v7().to_string();
            let status = if version == versions { "active" } else { "archived" };
            db.execute(
                "INSERT INTO prompt_versions (id, prompt_id, version, kind, template, checksum_hash, status, created_at) \
                 VALUES ($1, $2, $3, 'text', 'Hello {{ name }}', $4, $5, 0)",
                &[version_id.as_str().into(), id.as_str().into(), version.into(), format!("sum-{version_id}").into(), status.into()],
            )
            .await
            .expect("insert prompt version");
            out.push((version_id, version));
        }
        Prompt { id, name: name.to_owned(), versions: out }
    }

    #[derive(Debug, Clone)]
    pub struct Execution {
        pub id: String,
        /// (prompt_id, prompt_version_id, version, prompt name)
        pub prompt: Option<(String, String, i64, String)>,
        pub provider: &'static str,
        pub model: &'static str,
        pub status: &'static str,
        pub error_type: Option<&'static str>,
        pub prompt_tokens: Option<i64>,
        pub response_tokens: Option<i64>,
        pub cost_nanos: Option<i64>,
        pub latency_ms: Option<i64>,
        pub created_at: i64,
        pub completed_at: Option<i64>,
    }

    impl Execution {
        pub fn is_finished(&self) -> bool {
            matches!(self.status, "succeeded" | "failed" | "canceled")
        }
    }

    pub async fn executions<D: Db>(db: &D, rows: &[Execution]) {
        ledger::store::transaction(db, async || {
            for e in rows {
                let (prompt_id, version_id, version, name) = match &e.prompt {
                    Some((p, v, n, name)) => (Some(p.as_str()), Some(v.as_str()), Some(*n), Some(name.as_str())),
                    None => (None, None, None, None),
                };
                db.execute(
                    "INSERT INTO executions (id, prompt_id, prompt_version_id, prompt_name, version, provider, model_name, \
                        mode, status, prompt_tokens, response_tokens, total_latency_ms, cost_nanos, error_type, \
                        created_at, started_at, completed_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'sync', $8, $9, $10, $11, $12, $13, $14, $14, $15, $14)",
                    &[
                        e.id.as_str().into(),
                        prompt_id.into(),
                        version_id.into(),
                        name.into(),
                        version.into(),
                        e.provider.into(),
                        e.model.into(),
                        e.status.into(),
                        e.prompt_tokens.into(),
                        e.response_tokens.into(),
                        e.latency_ms.into(),
                        e.cost_nanos.into(),
                        e.error_type.into(),
                        e.created_at.into(),
                        e.completed_at.into(),
                    ],
                )
                .await?;
                db.execute(
                    "INSERT INTO execution_inputs (execution_id, variables) VALUES ($1, $2)",
                    &[e.id.as_str().into(), Value::Json("{\"name\": \"x\"}".into())],
                )
                .await?;
            }
            Ok::<_, ledger::ports::DbError>(())
        })
        .await
        .expect("insert executions");
    }
}
