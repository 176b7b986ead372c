//! The prompt registry: prompts, versions, activation, labels, rendering,
//! chat prompts, registration from code, diffs and scopes.

use serde_json::{Value as Json, json};

use super::unique;
use crate::{TestApp, TestResponse};

async fn create(app: &TestApp, body: Json) -> Json {
    let r = app.post("/v1/prompts", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json
}

async fn create_text(app: &TestApp, name: &str, template: &str) -> Json {
    create(app, json!({ "name": name, "template": template })).await
}

async fn add_version(app: &TestApp, name: &str, body: Json) -> TestResponse {
    app.post(&format!("/v1/prompts/{name}/versions"), body).await
}

async fn render(app: &TestApp, name: &str, body: Json) -> TestResponse {
    app.post(&format!("/v1/prompts/{name}:render"), body).await
}

async fn put(app: &TestApp, path: &str, body: Json) -> TestResponse {
    app.request(http::Method::PUT, path).json(&body).send().await
}

fn field(r: &TestResponse) -> &str {
    r.json["error"]["details"]["field"].as_str().unwrap_or_default()
}

fn names(list: &Json) -> Vec<String> {
    list["data"].as_array().expect("data").iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
}

pub async fn prompts_create_get_and_update(app: &TestApp) {
    let name = unique("greet");
    let r = app
        .post(
            "/v1/prompts",
            json!({
                "name": name, "description": "Greets a user", "owner_team": "growth",
                "template": "Hello {{ name }}!", "config": { "model": "gpt-4o-mini", "provider": "openai" },
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("location"), Some(format!("/v1/prompts/{name}").as_str()));
    let prompt = &r.json;
    assert_eq!((prompt["name"].as_str(), prompt["mode"].as_str()), (Some(name.as_str()), Some("full")));
    assert_eq!(prompt["owner_team"], "growth");
    assert_eq!(prompt["latest_version"], 1);
    assert_eq!(prompt["archived"], false);
    let active = &prompt["active_version"];
    assert_eq!((active["version"].as_i64(), active["status"].as_str()), (Some(1), Some("active")));
    assert_eq!(active["template"], "Hello {{ name }}!");
    assert_eq!(active["variables"], json!(["name"]));
    assert_eq!(active["config"], json!({ "model": "gpt-4o-mini", "provider": "openai" }));
    assert_eq!(active["created_by"], "bootstrap");

    // Names are unique, archived or not, and URL-safe.
    let r = app.post("/v1/prompts", json!({ "name": name })).await;
    assert_eq!((r.status, r.error_code()), (409, "conflict"));
    for bad in ["has space", "-leading", "a/b", "x:y", ""] {
        let r = app.post("/v1/prompts", json!({ "name": bad })).await;
        assert_eq!((r.status, field(&r)), (422, "name"), "{bad}: {}", r.text());
    }
    let r = app.post("/v1/prompts", json!({ "name": unique("m"), "mode": "manual" })).await;
    assert_eq!((r.status, field(&r)), (422, "mode"));
    let r = app.post("/v1/prompts", json!({ "name": unique("c"), "config": { "model": "x" } })).await;
    assert_eq!((r.status, field(&r)), (422, "config"));

    // Without a body: no version yet.
    let empty = unique("empty");
    let created = create(app, json!({ "name": empty, "mode": "tracking" })).await;
    assert_eq!((created["latest_version"].as_i64(), created["active_version"].is_null()), (Some(0), true));
    assert_eq!(created["mode"], "tracking");

    let r = app.get(&format!("/v1/prompts/{name}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["active_version"]["version"], 1);
    assert_eq!(r.json["labels"], json!([]));
    let r = app.get(&format!("/v1/prompts/{}", unique("missing"))).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));

    let r =
        app.patch(&format!("/v1/prompts/{name}"), json!({ "description": "Says hello", "owner_team": "core" })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json["description"].as_str(), r.json["owner_team"].as_str()), (Some("Says hello"), Some("core")));
    let r = app.patch(&format!("/v1/prompts/{name}"), json!({ "owner_team": null })).await;
    assert_eq!((r.json["owner_team"].is_null(), r.json["description"].as_str()), (true, Some("Says hello")));
    let r = app.patch(&format!("/v1/prompts/{name}"), json!({ "name": "renamed" })).await;
    assert_eq!(r.status, 422);
    let r = app.patch(&format!("/v1/prompts/{}", unique("nope")), json!({ "description": "x" })).await;
    assert_eq!(r.status, 404);
}

pub async fn prompts_list_paginates_and_filters(app: &TestApp) {
    let prefix = unique("lst");
    let team = unique("team");
    for i in 0..5 {
        let mode = if i < 3 { "full" } else { "tracking" };
        let owner = if i % 2 == 0 { Json::from(team.clone()) } else { Json::Null };
        create(app, json!({ "name": format!("{prefix}-{i}"), "mode": mode, "owner_team": owner })).await;
    }
    // Another prompt sharing the first characters is not matched.
    create(app, json!({ "name": format!("{prefix}x") })).await;

    let mut seen = Vec::new();
    let mut path = format!("/v1/prompts?prefix={prefix}-&limit=2");
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = names(&r.json);
        assert!(page.len() <= 2);
        seen.extend(page);
        match r.json["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/prompts?prefix={prefix}-&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|i| format!("{prefix}-{i}")).collect();
    assert_eq!(seen, expected);

    let r = app.get(&format!("/v1/prompts?owner_team={team}")).await;
    assert_eq!(names(&r.json), [format!("{prefix}-0"), format!("{prefix}-2"), format!("{prefix}-4")]);
    let r = app.get(&format!("/v1/prompts?prefix={prefix}-&mode=tracking")).await;
    assert_eq!(names(&r.json), [format!("{prefix}-3"), format!("{prefix}-4")]);
    assert!(r.json["data"][0]["active_version"].is_null());

    let r = app.post(&format!("/v1/prompts/{prefix}-1:archive"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app.get(&format!("/v1/prompts?prefix={prefix}-")).await;
    assert_eq!(names(&r.json).len(), 4);
    let r = app.get(&format!("/v1/prompts?prefix={prefix}-&include_archived=true")).await;
    assert_eq!(names(&r.json).len(), 5);
    assert_eq!(r.json["data"][1]["archived"], true);

    for (query, bad) in [
        ("cursor=not-a-cursor", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("mode=other", "mode"),
        ("prefix=a%2Fb", "prefix"),
        ("include_archived=maybe", "include_archived"),
    ] {
        let r = app.get(&format!("/v1/prompts?{query}")).await;
        assert_eq!((r.status, field(&r)), (422, bad), "{query}");
    }
}

pub async fn prompts_archive_and_unarchive(app: &TestApp) {
    let name = unique("arch");
    create_text(app, &name, "Hi").await;
    assert_eq!(render(app, &name, json!({})).await.status, 200);

    let r = app.post(&format!("/v1/prompts/{name}:archive"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["archived"], true);
    assert!(super::is_instant(&r.json["archived_at"]), "{}", r.text());
    // Archived: not resolvable by name, not changeable, but still readable.
    let r = render(app, &name, json!({})).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    assert!(r.json["error"]["message"].as_str().unwrap().contains("archived"));
    let r = app.get(&format!("/v1/prompts/{name}")).await;
    assert_eq!((r.status, r.json["archived"].as_bool()), (200, Some(true)));
    let r = add_version(app, &name, json!({ "template": "Hi again" })).await;
    assert_eq!((r.status, r.error_code()), (409, "prompt_archived"));
    let r = app.post("/v1/prompts", json!({ "name": name })).await;
    assert_eq!(r.status, 409);
    // Archiving twice is harmless.
    assert_eq!(app.post(&format!("/v1/prompts/{name}:archive"), json!({})).await.status, 200);

    let r = app.post(&format!("/v1/prompts/{name}:unarchive"), json!({})).await;
    assert_eq!((r.status, r.json["archived"].as_bool()), (200, Some(false)));
    let r = render(app, &name, json!({})).await;
    assert_eq!((r.status, r.json["rendered"].as_str()), (200, Some("Hi")));

    let r = app.post(&format!("/v1/prompts/{}:archive", unique("none")), json!({})).await;
    assert_eq!(r.status, 404);
    let r = app.post(&format!("/v1/prompts/{name}:explode"), json!({})).await;
    assert_eq!(r.status, 404);
    let r = app.get(&format!("/v1/prompts/{name}:archive")).await;
    assert_eq!(r.status, 405);
}

pub async fn versions_are_numbered_immutable_and_deduplicated(app: &TestApp) {
    let name = unique("ver");
    create(app, json!({ "name": name })).await;
    let first = json!({
        "template": "Hi {{ name }}, {{ greeting }}",
        "config": { "model": "gpt-4o", "provider": "openai", "params": { "temperature": 0.2, "max_tokens": 100 } },
        "message": "first draft",
        "created_by": "alice",
    });
    let r = add_version(app, &name, first).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("location"), Some(format!("/v1/prompts/{name}/versions/1").as_str()));
    let v1 = r.json.clone();
    assert_eq!((v1["version"].as_i64(), v1["status"].as_str()), (Some(1), Some("draft")));
    assert_eq!(v1["variables"], json!(["greeting", "name"]));
    assert_eq!((v1["created_by"].as_str(), v1["message"].as_str()), (Some("alice"), Some("first draft")));
    let checksum = v1["checksum_hash"].as_str().unwrap();
    assert!(checksum.len() == 64 && checksum.chars().all(|c| c.is_ascii_hexdigit()));

    // The same content (keys in another order, 0.2 == 0.20) is the same version.
    let again = json!({
        "config": { "params": { "max_tokens": 100.0, "temperature": 0.20 }, "provider": "openai", "model": "gpt-4o" },
        "template": "Hi {{ name }}, {{ greeting }}",
    });
    let r = add_version(app, &name, again).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json["id"].as_str(), r.json["version"].as_i64()), (v1["id"].as_str(), Some(1)));

    // A different config is different content.
    let r = add_version(app, &name, json!({ "template": "Hi {{ name }}, {{ greeting }}" })).await;
    assert_eq!((r.status, r.json["version"].as_i64()), (201, Some(2)));
    let r = add_version(app, &name, json!({ "template": "Hey {{ name }}", "status": "active" })).await;
    assert_eq!((r.status, r.json["version"].as_i64(), r.json["status"].as_str()), (201, Some(3), Some("active")));
    assert!(super::is_instant(&r.json["activated_at"]), "{}", r.text());
    let r = app.get(&format!("/v1/prompts/{name}")).await;
    assert_eq!((r.json["latest_version"].as_i64(), r.json["active_version"]["version"].as_i64()), (Some(3), Some(3)));

    let r = app.get(&format!("/v1/prompts/{name}/versions")).await;
    let numbers: Vec<i64> = r.json["data"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [3, 2, 1]);
    let r = app.get(&format!("/v1/prompts/{name}/versions?limit=2")).await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 2);
    let cursor = r.json["next_cursor"].as_str().expect("a second page").to_owned();
    let r = app.get(&format!("/v1/prompts/{name}/versions?limit=2&cursor={cursor}")).await;
    assert_eq!((r.json["data"][0]["version"].as_i64(), r.json["next_cursor"].is_null()), (Some(1), true));

    let r = app.get(&format!("/v1/prompts/{name}/versions/1")).await;
    assert_eq!((r.status, r.json["checksum_hash"].as_str()), (200, Some(checksum)));
    assert_eq!(r.json["config"]["params"], json!({ "max_tokens": 100, "temperature": 0.2 }));
    for missing in ["99", "0", "abc"] {
        assert_eq!(app.get(&format!("/v1/prompts/{name}/versions/{missing}")).await.status, 404, "{missing}");
    }
    assert_eq!(app.get(&format!("/v1/prompts/{}/versions", unique("none"))).await.status, 404);

    for (body, bad) in [
        (json!({ "template": "x", "status": "archived" }), "status"),
        (json!({ "template": "x", "messages": [{ "role": "user", "content": "y" }] }), "template"),
        (json!({}), "template"),
        (json!({ "template": "   " }), "template"),
        (json!({ "template": "x", "config": { "modle": "gpt" } }), "config"),
        (json!({ "template": "x", "config": { "params": [1] } }), "config.params"),
        (json!({ "template": "x", "config": "gpt-4o" }), "config"),
        (json!({ "template": "x", "extra": 1 }), "extra"),
    ] {
        let r = add_version(app, &name, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert!(field(&r).starts_with(bad), "{body}: {}", r.text());
    }
    let r = add_version(app, &name, json!({ "template": "line one\n{% if %}" })).await;
    assert_eq!((r.status, r.error_code()), (422, "template_syntax"));
    assert_eq!(r.json["error"]["details"]["line"], 2);
    assert!(r.json["error"]["details"]["column"].is_number());
    // Rejected versions took no number.
    let r = add_version(app, &name, json!({ "template": "four" })).await;
    assert_eq!(r.json["version"], 4);
}

pub async fn activation_and_rollback(app: &TestApp) {
    let name = unique("act");
    create_text(app, &name, "one").await;
    assert_eq!(add_version(app, &name, json!({ "template": "two" })).await.status, 201);

    let r = app.post(&format!("/v1/prompts/{name}/versions/2:activate"), json!({})).await;
    assert_eq!((r.status, r.json["status"].as_str()), (200, Some("active")), "{}", r.text());
    assert_eq!(render(app, &name, json!({})).await.json["rendered"], "two");
    let statuses = |r: &TestResponse| -> Vec<(i64, String)> {
        r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["version"].as_i64().unwrap(), v["status"].as_str().unwrap().to_owned()))
            .collect()
    };
    let r = app.get(&format!("/v1/prompts/{name}/versions")).await;
    assert_eq!(statuses(&r), [(2, "active".to_owned()), (1, "archived".to_owned())]);

    // Rollback: the archived version becomes active again.
    let r = app.post(&format!("/v1/prompts/{name}/versions/1:activate"), json!({})).await;
    assert_eq!(r.status, 200);
    let r = render(app, &name, json!({})).await;
    assert_eq!((r.json["rendered"].as_str(), r.json["version"]["number"].as_i64()), (Some("one"), Some(1)));
    let r = app.get(&format!("/v1/prompts/{name}/versions")).await;
    assert_eq!(statuses(&r), [(2, "archived".to_owned()), (1, "active".to_owned())]);

    // Activating the active version changes nothing.
    let r = app.post(&format!("/v1/prompts/{name}/versions/1:activate"), json!({})).await;
    assert_eq!((r.status, r.json["status"].as_str()), (200, Some("active")));
    let r = app.post(&format!("/v1/prompts/{name}/versions/7:activate"), json!({})).await;
    assert_eq!(r.status, 404);
    let r = app.post(&format!("/v1/prompts/{}/versions/1:activate", unique("none")), json!({})).await;
    assert_eq!(r.status, 404);
}

pub async fn labels_and_resolution_order(app: &TestApp) {
    let name = unique("lbl");
    create_text(app, &name, "v1").await;
    add_version(app, &name, json!({ "template": "v2" })).await;
    add_version(app, &name, json!({ "template": "v3" })).await;

    let r = put(app, &format!("/v1/prompts/{name}/labels/production"), json!({ "version": 2 })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json["label"].as_str(), r.json["version"].as_i64()), (Some("production"), Some(2)));
    assert_eq!(r.json["updated_by"], "bootstrap");
    put(app, &format!("/v1/prompts/{name}/labels/staging"), json!({ "version": 3 })).await;

    let r = app.get(&format!("/v1/prompts/{name}/labels")).await;
    let labels: Vec<(String, i64)> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["label"].as_str().unwrap().to_owned(), l["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(labels, [("production".to_owned(), 2), ("staging".to_owned(), 3)]);
    let r = app.get(&format!("/v1/prompts/{name}/labels/staging")).await;
    assert_eq!(r.json["version"], 3);
    let r = app.get(&format!("/v1/prompts/{name}/versions/3")).await;
    assert_eq!(r.json["labels"], json!(["staging"]));

    let rendered = async |body: Json| render(app, &name, body).await.json["rendered"].as_str().map(str::to_owned);
    // Explicit version, then label, then the active version.
    assert_eq!(rendered(json!({})).await.as_deref(), Some("v1"));
    assert_eq!(rendered(json!({ "label": "production" })).await.as_deref(), Some("v2"));
    assert_eq!(rendered(json!({ "label": "production", "version": 3 })).await.as_deref(), Some("v3"));
    assert_eq!(rendered(json!({ "version": 1 })).await.as_deref(), Some("v1"));

    // Moving a label rolls an environment forward (or back) at once.
    put(app, &format!("/v1/prompts/{name}/labels/production"), json!({ "version": 3 })).await;
    assert_eq!(rendered(json!({ "label": "production" })).await.as_deref(), Some("v3"));
    put(app, &format!("/v1/prompts/{name}/labels/production"), json!({ "version": 1 })).await;
    assert_eq!(rendered(json!({ "label": "production" })).await.as_deref(), Some("v1"));

    let r = render(app, &name, json!({ "label": "qa" })).await;
    assert_eq!(r.status, 404);
    let r = render(app, &name, json!({ "version": 9 })).await;
    assert_eq!(r.status, 404);
    let r = put(app, &format!("/v1/prompts/{name}/labels/Not%20Valid"), json!({ "version": 1 })).await;
    assert_eq!((r.status, field(&r)), (422, "label"));
    let r = put(app, &format!("/v1/prompts/{name}/labels/qa"), json!({ "version": 9 })).await;
    assert_eq!((r.status, field(&r)), (422, "version"));
    let r = put(app, &format!("/v1/prompts/{name}/labels/qa"), json!({})).await;
    assert_eq!((r.status, field(&r)), (422, "version"));

    let r = app.get(&format!("/v1/prompts/{name}")).await;
    assert_eq!(r.json["labels"].as_array().unwrap().len(), 2);

    let r = app.delete(&format!("/v1/prompts/{name}/labels/production")).await;
    assert_eq!((r.status, r.json["version"].as_i64()), (200, Some(1)));
    assert_eq!(app.delete(&format!("/v1/prompts/{name}/labels/production")).await.status, 404);
    assert_eq!(render(app, &name, json!({ "label": "production" })).await.status, 404);
    assert_eq!(app.get(&format!("/v1/prompts/{name}/labels/production")).await.status, 404);
}

pub async fn rendering_checks_variables_and_limits(app: &TestApp) {
    let name = unique("rnd");
    let template = "Hello {{ name }}! You have {{ count }} new {{ 'message' if count == 1 else 'messages' }}.";
    let created = create_text(app, &name, template).await;
    let version = &created["active_version"];
    assert_eq!(version["variables"], json!(["count", "name"]));

    let r = render(app, &name, json!({ "variables": { "name": "Ada", "count": 2 } })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["rendered"], "Hello Ada! You have 2 new messages.");
    assert_eq!(r.json["kind"], "text");
    assert_eq!(r.json["version"]["number"], 1);
    assert_eq!(r.json["version"]["id"], version["id"]);
    assert_eq!(r.json["version"]["checksum_hash"], version["checksum_hash"]);
    assert_eq!(r.json["prompt"]["name"], name.as_str());

    let r = render(app, &name, json!({ "variables": {} })).await;
    assert_eq!((r.status, r.error_code()), (422, "missing_variables"));
    assert_eq!(r.json["error"]["details"]["missing"], json!(["count", "name"]));
    let r = render(app, &name, json!({ "variables": { "count": 1 } })).await;
    assert_eq!(r.json["error"]["details"]["missing"], json!(["name"]));
    // null counts as given, and prints as nothing.
    let r = render(app, &name, json!({ "variables": { "count": 1, "name": null } })).await;
    assert_eq!(r.json["rendered"], "Hello ! You have 1 new message.");
    let r = render(app, &name, json!({ "variables": [1] })).await;
    assert_eq!((r.status, field(&r)), (422, "variables"));

    // A nested undefined value is caught while rendering.
    let nested = unique("nested");
    create_text(app, &nested, "Mail {{ user.email }}").await;
    let r = render(app, &nested, json!({ "variables": { "user": { "name": "x" } } })).await;
    assert_eq!((r.status, r.error_code()), (422, "missing_variables"));
    assert_eq!(r.json["error"]["details"]["missing"], json!(["user.email"]));

    // Syntax errors are rejected when the version is created.
    let r = app.post("/v1/prompts", json!({ "name": unique("syn"), "template": "ok\n{{ broken" })).await;
    assert_eq!((r.status, r.error_code()), (422, "template_syntax"));
    assert_eq!(r.json["error"]["details"]["line"], 2);

    // Hostile templates fail fast with template_limit.
    for hostile in [
        "{% for i in range(10**9) %}x{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{{ 'x' * 5000000 }}",
        "{% for i in range(50000) %}{{ 'y' * 1000 }}{% endfor %}",
    ] {
        let limited = unique("lim");
        create_text(app, &limited, hostile).await;
        let started = std::time::Instant::now();
        let r = render(app, &limited, json!({})).await;
        assert_eq!((r.status, r.error_code()), (422, "template_limit"), "{hostile}: {}", r.text());
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{hostile} took {:?}", started.elapsed());
    }

    let odd = unique("odd");
    create_text(app, &odd, "{{ x | no_such_filter }}").await;
    let r = render(app, &odd, json!({ "variables": { "x": 1 } })).await;
    assert_eq!((r.status, r.error_code()), (422, "render_failed"));

    let r = render(app, &unique("none"), json!({})).await;
    assert_eq!(r.status, 404);
    let plain = unique("plain");
    create_text(app, &plain, "No variables here.").await;
    let r = app.request(http::Method::POST, &format!("/v1/prompts/{plain}:render")).send().await;
    assert_eq!((r.status, r.json["rendered"].as_str()), (200, Some("No variables here.")), "{}", r.text());
}

pub async fn chat_prompts_render_messages(app: &TestApp) {
    let name = unique("chat");
    let created = create(
        app,
        json!({
            "name": name,
            "messages": [
                { "role": "system", "content": "You are a {{ persona }}." },
                { "role": "user", "content": "{{ question }}" },
                { "role": "assistant", "content": "Noted, {{ persona }}." },
            ],
        }),
    )
    .await;
    let version = &created["active_version"];
    assert_eq!(version["kind"], "chat");
    assert_eq!(version["variables"], json!(["persona", "question"]));
    assert!(version.get("template").is_none());

    let r = render(app, &name, json!({ "variables": { "persona": "pirate", "question": "Where?" } })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["kind"], "chat");
    assert_eq!(
        r.json["messages"],
        json!([
            { "role": "system", "content": "You are a pirate." },
            { "role": "user", "content": "Where?" },
            { "role": "assistant", "content": "Noted, pirate." },
        ])
    );
    let r = render(app, &name, json!({ "variables": { "persona": "pirate" } })).await;
    assert_eq!(r.json["error"]["details"]["missing"], json!(["question"]));

    let r = add_version(app, &name, json!({ "messages": [{ "role": "tool", "content": "x" }] })).await;
    assert_eq!((r.status, field(&r)), (422, "messages[0].role"));
    let r = add_version(app, &name, json!({ "messages": [] })).await;
    assert_eq!((r.status, field(&r)), (422, "messages"));
    let r = add_version(
        app,
        &name,
        json!({ "messages": [{ "role": "user", "content": "ok" }, { "role": "user", "content": "{% endif %}" }] }),
    )
    .await;
    assert_eq!((r.status, r.error_code()), (422, "template_syntax"));
    assert_eq!(r.json["error"]["details"]["message_index"], 1);

    let r =
        add_version(app, &name, json!({ "messages": [{ "role": "system", "content": "You are a {{ persona }}!" }] }))
            .await;
    assert_eq!(r.status, 201);
    let r = app.get(&format!("/v1/prompts/{name}/diff?from=1&to=2")).await;
    let diff = r.json["diff"].as_str().unwrap();
    for line in
        ["-system: You are a {{ persona }}.\n", "-user: {{ question }}\n", "+system: You are a {{ persona }}!\n"]
    {
        assert!(diff.contains(line), "{line} not in {diff}");
    }
}

pub async fn register_from_code_is_idempotent(app: &TestApp) {
    let [a, b, c] = [unique("reg-a"), unique("reg-b"), unique("reg-c")];
    let batch = |a_template: &str| {
        json!({ "prompts": [
            { "name": a, "template": a_template },
            { "name": b, "messages": [{ "role": "system", "content": "Be {{ tone }}." }] },
            { "name": c, "template": "Summarise {{ text }}", "config": { "model": "mock-1", "provider": "mock" } },
        ] })
    };
    let r = app.post("/v1/prompts:register", batch("Hello {{ who }}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let statuses = |r: &TestResponse| -> Vec<(String, i64)> {
        r.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["status"].as_str().unwrap().to_owned(), x["version"].as_i64().unwrap_or(0)))
            .collect()
    };
    let created = ("created".to_owned(), 1);
    assert_eq!(statuses(&r), [created.clone(), created.clone(), created]);
    assert_eq!(r.json["summary"], json!({ "created": 3, "updated": 0, "unchanged": 0, "failed": 0 }));
    let r = app.get(&format!("/v1/prompts/{c}")).await;
    assert_eq!(r.json["mode"], "tracking");
    assert_eq!(r.json["active_version"]["config"]["provider"], "mock");

    // The same batch again changes nothing.
    let r = app.post("/v1/prompts:register", batch("Hello {{ who }}")).await;
    let unchanged = ("unchanged".to_owned(), 1);
    assert_eq!(statuses(&r), [unchanged.clone(), unchanged.clone(), unchanged.clone()]);
    assert_eq!(app.get(&format!("/v1/prompts/{a}")).await.json["latest_version"], 1);

    // A changed body becomes a new active version; going back reuses version 1.
    let r = app.post("/v1/prompts:register", batch("Hi {{ who }}")).await;
    assert_eq!(statuses(&r)[0], ("updated".to_owned(), 2));
    assert_eq!(r.json["results"][0]["previous_version"], 1);
    assert_eq!(statuses(&r)[1], unchanged);
    assert_eq!(render(app, &a, json!({ "variables": { "who": "you" } })).await.json["rendered"], "Hi you");
    let r = app.post("/v1/prompts:register", batch("Hello {{ who }}")).await;
    assert_eq!(statuses(&r)[0], ("updated".to_owned(), 1));
    let r = app.get(&format!("/v1/prompts/{a}")).await;
    assert_eq!((r.json["latest_version"].as_i64(), r.json["active_version"]["version"].as_i64()), (Some(2), Some(1)));

    // A prompt managed through the API is not taken over from code.
    let managed = unique("managed");
    create_text(app, &managed, "by hand").await;
    let r =
        app.post("/v1/prompts:register", json!({ "prompts": [{ "name": managed, "template": "from code" }] })).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.json["results"][0]["status"].as_str(), r.json["results"][0]["error"]["code"].as_str()),
        (Some("error"), Some("mode_conflict"))
    );
    assert_eq!(r.json["summary"]["failed"], 1);

    // The whole batch is validated before anything is written.
    let fresh = unique("reg-new");
    let r = app
        .post(
            "/v1/prompts:register",
            json!({ "prompts": [{ "name": fresh, "template": "ok" }, { "name": unique("x"), "template": "{% for %}" }] }),
        )
        .await;
    assert_eq!((r.status, r.error_code()), (422, "template_syntax"));
    assert_eq!(field(&r), "prompts[1].template");
    assert_eq!(app.get(&format!("/v1/prompts/{fresh}")).await.status, 404);
    let r = app
        .post(
            "/v1/prompts:register",
            json!({ "prompts": [{ "name": fresh, "template": "a" }, { "name": fresh, "template": "b" }] }),
        )
        .await;
    assert_eq!((r.status, field(&r)), (422, "prompts[1].name"));
    let r = app.post("/v1/prompts:register", json!({ "prompts": [] })).await;
    assert_eq!((r.status, field(&r)), (422, "prompts"));
    let too_many: Vec<Json> = (0..501).map(|i| json!({ "name": format!("{fresh}-{i}"), "template": "x" })).collect();
    let r = app.post("/v1/prompts:register", json!({ "prompts": too_many })).await;
    assert_eq!((r.status, field(&r)), (422, "prompts"));
}

pub async fn diff_between_versions(app: &TestApp) {
    let name = unique("diff");
    create_text(app, &name, "Line one\nLine two\n").await;
    add_version(app, &name, json!({ "template": "Line one\nLine 2\n", "config": { "model": "gpt-4o" } })).await;
    let r = app.get(&format!("/v1/prompts/{name}/diff?from=1&to=2")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let diff = r.json["diff"].as_str().unwrap();
    assert!(diff.contains(&format!("--- {name}@v1\n+++ {name}@v2\n")), "{diff}");
    assert!(diff.contains(" Line one\n-Line two\n+Line 2\n"), "{diff}");
    assert_eq!((r.json["config_changed"].as_bool(), r.json["body_changed"].as_bool()), (Some(true), Some(true)));
    assert_eq!((r.json["from"]["version"].as_i64(), r.json["to"]["version"].as_i64()), (Some(1), Some(2)));
    let r = app.get(&format!("/v1/prompts/{name}/diff?from=2&to=2")).await;
    assert_eq!((r.json["diff"].as_str(), r.json["config_changed"].as_bool()), (Some(""), Some(false)));

    let r = app.get(&format!("/v1/prompts/{name}/diff?to=2")).await;
    assert_eq!((r.status, field(&r)), (422, "from"));
    let r = app.get(&format!("/v1/prompts/{name}/diff?from=1&to=5")).await;
    assert_eq!(r.status, 404);
}

pub async fn prompt_scopes_guard_reads_and_writes(app: &TestApp) {
    let name = unique("scope");
    create_text(app, &name, "Hi {{ who }}").await;
    let reader = app.key_with_scope("read").await;
    let writer = app.key_with_scope("write").await;
    let as_key = |method: http::Method, path: String, body: Json, key: &str| {
        app.request(method, &path).key(key).json(&body).send()
    };

    let r = as_key(http::Method::GET, "/v1/prompts".into(), json!(null), &reader).await;
    assert_eq!(r.status, 200);
    let r = as_key(http::Method::GET, format!("/v1/prompts/{name}/versions"), json!(null), &reader).await;
    assert_eq!(r.status, 200);
    let r = as_key(
        http::Method::POST,
        format!("/v1/prompts/{name}:render"),
        json!({ "variables": { "who": "r" } }),
        &reader,
    )
    .await;
    assert_eq!((r.status, r.json["rendered"].as_str()), (200, Some("Hi r")));

    let writes = [
        (http::Method::POST, "/v1/prompts".to_owned(), json!({ "name": unique("nope") })),
        (http::Method::PATCH, format!("/v1/prompts/{name}"), json!({ "description": "x" })),
        (http::Method::POST, format!("/v1/prompts/{name}/versions"), json!({ "template": "x" })),
        (http::Method::POST, format!("/v1/prompts/{name}/versions/1:activate"), json!({})),
        (http::Method::PUT, format!("/v1/prompts/{name}/labels/production"), json!({ "version": 1 })),
        (http::Method::DELETE, format!("/v1/prompts/{name}/labels/production"), json!(null)),
        (http::Method::POST, format!("/v1/prompts/{name}:archive"), json!({})),
        (
            http::Method::POST,
            "/v1/prompts:register".to_owned(),
            json!({ "prompts": [{ "name": unique("n"), "template": "x" }] }),
        ),
    ];
    for (method, path, body) in &writes {
        let r = as_key(method.clone(), path.clone(), body.clone(), &reader).await;
        assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{method} {path}");
    }
    let r = as_key(http::Method::POST, "/v1/prompts".into(), json!({ "name": unique("w") }), &writer).await;
    assert_eq!(r.status, 201);
    let r =
        as_key(http::Method::PUT, format!("/v1/prompts/{name}/labels/production"), json!({ "version": 1 }), &writer)
            .await;
    assert_eq!(r.status, 200);
    let r = app.request(http::Method::GET, "/v1/prompts").without_key().send().await;
    assert_eq!(r.status, 401);
}
