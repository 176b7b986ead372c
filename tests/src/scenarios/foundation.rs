//! Health, auth, API keys and the shared error shape.

use serde_json::json;

use crate::{Backend, TestApp};

pub async fn health_reports_each_check(app: &TestApp) {
    let r = app.request(http::Method::GET, "/health").without_key().send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let checks = &r.json["checks"];
    assert_eq!(r.json["status"], "ok");
    assert_eq!(checks["database"]["status"], "ok");
    let dialect = match app.backend() {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    };
    assert_eq!(checks["database"]["dialect"], dialect);
    assert!(checks["database"]["latency_ms"].is_number());
    assert_eq!(checks["migrations"]["status"], "ok");
    assert_eq!(checks["migrations"]["current"], checks["migrations"]["expected"]);
    assert_eq!(checks["redis"]["status"], "not_configured");
    assert_eq!(checks["providers"]["openai"]["configured"], true);
    assert_eq!(checks["providers"]["mock"]["configured"], true);
    let text = r.text();
    assert!(!text.contains("sk-test") && !text.contains(crate::ADMIN_KEY), "health leaks a secret: {text}");
}

pub async fn auth_requires_a_valid_key(app: &TestApp) {
    let r = app.request(http::Method::GET, "/v1/api-keys").without_key().send().await;
    assert_eq!((r.status, r.error_code()), (401, "unauthorized"));
    assert!(r.header("www-authenticate").is_some());

    let r = app.request(http::Method::GET, "/v1/api-keys").key("pl_not-a-real-key").send().await;
    assert_eq!((r.status, r.error_code()), (401, "unauthorized"));

    let r = app
        .request(http::Method::GET, "/v1/api-keys")
        .without_key()
        .header("authorization", &format!("Bearer {}", crate::ADMIN_KEY))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Unknown /v1 paths still require a key before anything else is revealed.
    let r = app.request(http::Method::GET, "/v1/no-such-thing").without_key().send().await;
    assert_eq!(r.status, 401);
}

pub async fn api_keys_lifecycle_and_scopes(app: &TestApp) {
    let name = super::unique("reader");
    let r = app.post("/v1/api-keys", json!({ "name": name, "scope": "read" })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let read_key = r.json["key"].as_str().expect("secret shown once").to_owned();
    assert_eq!(r.header("cache-control"), Some("no-store"), "no cache may keep the secret");
    let read_id = r.json["id"].as_str().expect("id").to_owned();
    assert_eq!(r.json["scope"], "read");
    assert!(read_key.starts_with(r.json["key_prefix"].as_str().unwrap()));
    assert_eq!(r.header("location"), Some(format!("/v1/api-keys/{read_id}").as_str()));

    // Listing never shows a secret or its hash.
    let r = app.get("/v1/api-keys").await;
    assert_eq!(r.status, 200);
    let listed = r.json["data"].as_array().unwrap().iter().find(|k| k["id"] == read_id.as_str()).cloned();
    let listed = listed.expect("new key is listed");
    assert_eq!(listed["name"], name.as_str());
    assert!(listed.get("key").is_none() && listed.get("key_hash").is_none());
    assert!(!r.text().contains(&read_key));

    // A read key is authenticated but may not administer keys.
    let r = app.request(http::Method::GET, "/v1/api-keys").key(&read_key).send().await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"));
    let write_key = app.key_with_scope("write").await;
    let r = app
        .request(http::Method::POST, "/v1/api-keys")
        .key(&write_key)
        .json(&json!({"name": "x", "scope": "admin"}))
        .send()
        .await;
    assert_eq!(r.status, 403);

    let r = app.post("/v1/api-keys", json!({ "name": "bad", "scope": "root" })).await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("scope")));
    let r = app.post("/v1/api-keys", json!({ "name": "  ", "scope": "read" })).await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("name")));

    // Revocation takes effect at once and is idempotent.
    let r = app.delete(&format!("/v1/api-keys/{read_id}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(super::is_instant(&r.json["revoked_at"]), "{}", r.text());
    let r = app.request(http::Method::GET, "/v1/api-keys").key(&read_key).send().await;
    assert_eq!(r.status, 401);
    let r = app.delete(&format!("/v1/api-keys/{read_id}")).await;
    assert_eq!(r.status, 200);
    let r = app.delete("/v1/api-keys/00000000-0000-0000-0000-000000000000").await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));

    let r = app.get("/v1/api-keys").await;
    assert!(!r.json["data"].as_array().unwrap().iter().any(|k| k["id"] == read_id.as_str()));
    let r = app.get("/v1/api-keys?include_revoked=true").await;
    assert!(r.json["data"].as_array().unwrap().iter().any(|k| k["id"] == read_id.as_str()));
}

pub async fn errors_share_one_json_shape(app: &TestApp) {
    let r = app
        .request(http::Method::POST, "/v1/api-keys")
        .header("content-type", "application/json")
        .raw_body("{\"name\": ")
        .send()
        .await;
    assert_eq!((r.status, r.error_code()), (400, "bad_request"));

    let r = app
        .request(http::Method::POST, "/v1/api-keys")
        .header("content-type", "text/plain")
        .raw_body("hello")
        .send()
        .await;
    assert_eq!((r.status, r.error_code()), (415, "unsupported_media_type"));

    let r = app.post("/v1/api-keys", json!({ "scope": "read" })).await;
    assert_eq!((r.status, r.error_code()), (422, "validation_failed"));
    assert_eq!(r.json["error"]["details"]["field"], "name");

    let r = app.request(http::Method::PUT, "/v1/api-keys").json(&json!({})).send().await;
    assert_eq!((r.status, r.error_code()), (405, "method_not_allowed"));
    assert_eq!(r.header("allow"), Some("GET, POST"));

    let r = app.get("/v1/no-such-thing").await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    assert_eq!(r.header("content-type"), Some("application/json"));

    let huge = vec![b' '; ledger::api::request::MAX_BODY_BYTES + 1];
    let r = app
        .request(http::Method::POST, "/v1/api-keys")
        .header("content-type", "application/json")
        .raw_body(huge)
        .send()
        .await;
    assert_eq!((r.status, r.error_code()), (413, "payload_too_large"));
}

/// PostgreSQL cannot store U+0000; every backend answers 422 naming the
/// field, and nothing is written.
pub async fn nul_characters_are_refused_with_their_field(app: &TestApp) {
    let name = super::unique("nul");
    let cases = [
        ("/v1/prompts", json!({ "name": name, "template": "Hi\u{0}" }), "template"),
        ("/v1/prompts", json!({ "name": name, "template": "Hi", "description": "a\u{0}b" }), "description"),
        ("/v1/prompts", json!({ "name": name, "template": "Hi", "owner_team": "\u{0}" }), "owner_team"),
        (
            "/v1/executions:run",
            json!({ "template": "Hi {{ who }}", "variables": { "who": "x\u{0}" }, "model": { "provider": "mock", "model_name": "m" } }),
            "variables.who",
        ),
    ];
    for (path, body, field) in cases {
        let r = app.post(path, body).await;
        assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some(field)), "{}", r.text());
    }
    assert_eq!(app.get(&format!("/v1/prompts/{name}")).await.status, 404, "nothing was written");
    for path in ["/v1/prompts?prefix=a%00", "/v1/executions?correlation_id=%00", "/v1/traces?service_name=%00"] {
        let r = app.get(path).await;
        assert_eq!(r.status, 422, "{path}: {}", r.text());
    }
    let r = app.get("/v1/traces/ab%00cd").await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("path")), "{}", r.text());
}

/// Browsers on a listed origin get preflights and CORS headers; others get
/// neither. Preflights carry no key, so they are answered before auth.
pub async fn cors_serves_listed_origins_only(app: &TestApp) {
    let origin = crate::target::TEST_ORIGIN;
    let r = app
        .request(http::Method::OPTIONS, "/v1/executions:run")
        .without_key()
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    assert!(r.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    assert!(r.header("access-control-allow-headers").is_some_and(|h| h.contains("authorization")));

    let r = app.request(http::Method::GET, "/v1/prompts").header("origin", origin).send().await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, Some(origin)));
    assert!(r.header("access-control-expose-headers").is_some_and(|h| h.contains("retry-after")));
    let r = app.request(http::Method::GET, "/v1/prompts").without_key().header("origin", origin).send().await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (401, Some(origin)), "errors are readable too");

    let stranger = "https://elsewhere.example";
    let r = app
        .request(http::Method::OPTIONS, "/v1/prompts")
        .without_key()
        .header("origin", stranger)
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert_eq!((r.status, r.error_code()), (403, "cors_origin_not_allowed"));
    let r = app.request(http::Method::GET, "/v1/prompts").header("origin", stranger).send().await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, None));
}
