//! Analytics numbers against executions seeded straight into the database,
//! before and after the fold, under repeated and concurrent folds, and
//! retention boundaries; on both backends.

use std::collections::BTreeMap;

use futures::join;
use ledger::analytics::histogram::Histogram;
use ledger::analytics::rollup::{self, HOUR_MS, floor_day, floor_hour};
use ledger::lineage::time::format_ms;
use ledger::ports::Db;
use ledger::retention;
use ledger_native::NativeHost;
use scenarios::scenarios::analytics::seed::{self, Execution};
use scenarios::scenarios::unique;
use scenarios::{Backend, TestApp};
use serde_json::{Value as Json, json};

/// 2024-05-01T00:00:00Z
const H0: i64 = 1_714_521_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn host(app: &TestApp, retention_days: i64) -> NativeHost {
    let mut config = app.config.clone();
    config.retention_days = retention_days;
    NativeHost::new(app.db.native(), config)
}

fn execution(created_at: i64, status: &'static str, latency_ms: Option<i64>) -> Execution {
    let finished = matches!(status, "succeeded" | "failed" | "canceled");
    Execution {
        id: uuid::Uuid::now_v7().to_string(),
        prompt: None,
        provider: "openai",
        model: "gpt-4o-mini",
        status,
        error_type: None,
        prompt_tokens: Some(100),
        response_tokens: Some(20),
        cost_nanos: Some(30_000),
        latency_ms,
        created_at,
        completed_at: finished.then(|| created_at + latency_ms.unwrap_or(3)),
    }
}

/// 400 executions over five hours: two versions of one prompt, one of
/// another, inline templates, two models, every status.
fn workload(a: &seed::Prompt, b: &seed::Prompt) -> Vec<Execution> {
    (0..400i64)
        .map(|i| {
            let version = |p: &seed::Prompt, n: usize| {
                let (id, v) = p.versions[n].clone();
                Some((p.id.clone(), id, v, p.name.clone()))
            };
            let prompt = match i % 10 {
                0..=3 => version(a, 0),
                4..=7 => version(a, 1),
                8 => version(b, 0),
                _ => None,
            };
            let status = match i % 20 {
                0 => "canceled",
                1 | 2 => "failed",
                3 if i < 100 => "queued",
                4 if i < 100 => "running",
                _ => "succeeded",
            };
            let (provider, model) =
                if i % 3 == 0 { ("anthropic", "claude-3-5-haiku") } else { ("openai", "gpt-4o-mini") };
            let slower = if matches!(i % 10, 4..=7) { 700 } else { 0 };
            let latency = (!matches!(status, "canceled" | "queued")).then(|| 40 + slower + (i * i * 7919) % 9000);
            let spent = status != "canceled";
            Execution {
                prompt,
                provider,
                model,
                error_type: match (status, i % 3) {
                    ("failed", 0) => Some("timeout"),
                    ("failed", 1) => Some("rate_limited"),
                    _ => None,
                },
                prompt_tokens: spent.then_some(50 + i),
                response_tokens: spent.then_some(10 + i % 13),
                cost_nanos: spent.then_some(1_000 * i + 7),
                ..execution(H0 + i * (5 * HOUR_MS / 400) + i % 7, status, latency)
            }
        })
        .collect()
}

#[derive(Debug, Default)]
struct Expected {
    executions: i64,
    succeeded: i64,
    failed: i64,
    canceled: i64,
    errors: BTreeMap<String, i64>,
    prompt_tokens: i64,
    response_tokens: i64,
    cost_nanos: i64,
    latencies: Vec<i64>,
}

fn expected<'a>(rows: impl IntoIterator<Item = &'a Execution>) -> Expected {
    let mut e = Expected::default();
    for x in rows.into_iter().filter(|x| x.is_finished()) {
        e.executions += 1;
        match x.status {
            "succeeded" => e.succeeded += 1,
            "failed" => {
                e.failed += 1;
                *e.errors.entry(x.error_type.unwrap_or("unknown").to_owned()).or_default() += 1;
            }
            _ => e.canceled += 1,
        }
        e.prompt_tokens += x.prompt_tokens.unwrap_or(0);
        e.response_tokens += x.response_tokens.unwrap_or(0);
        e.cost_nanos += x.cost_nanos.unwrap_or(0);
        e.latencies.extend(x.latency_ms);
    }
    e.latencies.sort_unstable();
    e
}

/// Counts and sums exact; percentiles within the width of the true value's bucket.
fn check(stats: &Json, e: &Expected, what: &str) {
    let int = |k: &str| stats[k].as_i64().unwrap_or_else(|| panic!("{what}: no {k} in {stats}"));
    assert_eq!(
        [int("executions"), int("succeeded"), int("failed"), int("canceled")],
        [e.executions, e.succeeded, e.failed, e.canceled],
        "{what}: counts"
    );
    assert_eq!(
        [int("prompt_tokens"), int("response_tokens"), int("cost_nanos")],
        [e.prompt_tokens, e.response_tokens, e.cost_nanos],
        "{what}: sums"
    );
    assert_eq!(stats["cost_usd"].as_f64().unwrap(), e.cost_nanos as f64 / 1e9, "{what}");
    assert_eq!(stats["errors_by_type"], json!(e.errors), "{what}");
    let rate = (e.succeeded + e.failed > 0).then(|| e.succeeded as f64 / (e.succeeded + e.failed) as f64);
    match rate {
        Some(rate) => assert!((stats["success_rate"].as_f64().unwrap() - rate).abs() < 0.001, "{what}: success rate"),
        None => assert!(stats["success_rate"].is_null()),
    }
    let latency = &stats["latency_ms"];
    assert_eq!(latency["count"].as_i64(), Some(e.latencies.len() as i64), "{what}: latency count");
    if e.latencies.is_empty() {
        return;
    }
    let mean = e.latencies.iter().sum::<i64>() as f64 / e.latencies.len() as f64;
    assert!((latency["mean"].as_f64().unwrap() - mean).abs() < 0.001, "{what}: mean");
    for (key, q) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
        let rank = ((q * e.latencies.len() as f64).ceil() as usize).clamp(1, e.latencies.len());
        let truth = e.latencies[rank - 1];
        let (lower, upper) = Histogram::bucket_bounds(Histogram::bucket_of(truth));
        let got = latency[key].as_f64().unwrap();
        assert!(
            (got - truth as f64).abs() <= (upper - lower) as f64,
            "{what}: {key} {got} vs {truth} (bucket {lower}..{upper})"
        );
    }
}

fn without_freshness(mut body: Json) -> Json {
    body.as_object_mut().unwrap().remove("rollups_through");
    body
}

async fn live_and_rolled_up_answers_agree(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let db = app.db.native();
    let a = seed::prompt(&db, &unique("summarize"), 2).await;
    let b = seed::prompt(&db, &unique("classify"), 1).await;
    let rows = workload(&a, &b);
    seed::executions(&db, &rows).await;

    let window = (H0 + 90 * 60_000 + 17, H0 + 200 * 60_000);
    let in_window = |x: &&Execution| x.created_at >= window.0 && x.created_at < window.1;
    let a_id = a.id.clone();
    let of_version = |n: i64| {
        let a_id = a_id.clone();
        move |x: &&Execution| x.prompt.as_ref().is_some_and(|p| p.0 == a_id && p.2 == n)
    };
    let summary_path = "/v1/analytics/summary".to_owned();
    let window_path = format!("/v1/analytics/summary?since={}&until={}", window.0, format_ms(window.1));
    let prompt_path = format!("/v1/analytics/prompts/{}?bucket=hour", a.name);

    let mut answers = Vec::new();
    for pass in ["live", "rolled up"] {
        if pass == "rolled up" {
            let report = rollup::fold(&host(&app, 0), H0 + 6 * HOUR_MS).await.expect("fold");
            assert_eq!(report.hours_recomputed, 5);
            assert_eq!(report.executions_folded as i64, expected(&rows).executions);
        }
        let summary = app.get(&summary_path).await;
        assert_eq!(summary.status, 200, "{}", summary.text());
        check(&summary.json, &expected(&rows), &format!("{pass} summary"));
        let model = summary.json["by_model"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model_name"] == "claude-3-5-haiku")
            .unwrap()
            .clone();
        check(&model, &expected(rows.iter().filter(|x| x.model == "claude-3-5-haiku")), &format!("{pass} by model"));
        let provider =
            summary.json["by_provider"].as_array().unwrap().iter().find(|p| p["provider"] == "openai").unwrap().clone();
        check(&provider, &expected(rows.iter().filter(|x| x.provider == "openai")), &format!("{pass} by provider"));
        let top = &summary.json["top_prompts"];
        assert_eq!(
            (top[0]["prompt_name"].as_str(), top[1]["prompt_name"].as_str()),
            (Some(a.name.as_str()), Some(b.name.as_str()))
        );
        check(
            &top[1],
            &expected(rows.iter().filter(|x| x.prompt.as_ref().is_some_and(|p| p.0 == b.id))),
            &format!("{pass} top"),
        );

        let windowed = app.get(&window_path).await;
        assert_eq!(windowed.status, 200, "{}", windowed.text());
        check(&windowed.json, &expected(rows.iter().filter(in_window)), &format!("{pass} window"));

        let prompt = app.get(&prompt_path).await;
        assert_eq!(prompt.status, 200, "{}", prompt.text());
        check(
            &prompt.json,
            &expected(rows.iter().filter(|x| x.prompt.as_ref().is_some_and(|p| p.0 == a.id))),
            &format!("{pass} prompt"),
        );
        let versions = prompt.json["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2);
        for (n, v) in [(1, &versions[0]), (2, &versions[1])] {
            assert_eq!(v["version"], n);
            check(v, &expected(rows.iter().filter(of_version(n))), &format!("{pass} version {n}"));
        }
        assert!(
            versions[1]["latency_ms"]["p50"].as_f64() > versions[0]["latency_ms"]["p50"].as_f64(),
            "version 2 is slower"
        );
        let series = prompt.json["series"].as_array().unwrap();
        assert_eq!(series.len(), 5);
        for (h, point) in series.iter().enumerate() {
            let start = H0 + h as i64 * HOUR_MS;
            assert_eq!(point["bucket_start"], format_ms(start));
            let in_hour = |x: &&Execution| x.created_at >= start && x.created_at < start + HOUR_MS;
            check(
                point,
                &expected(
                    rows.iter()
                        .filter(of_version(2))
                        .filter(in_hour)
                        .chain(rows.iter().filter(of_version(1)).filter(in_hour)),
                ),
                &format!("{pass} hour {h}"),
            );
            let v2 = point["versions"].as_array().unwrap().iter().find(|v| v["version"] == 2).unwrap();
            check(v2, &expected(rows.iter().filter(of_version(2)).filter(in_hour)), &format!("{pass} hour {h} v2"));
        }
        let daily = app.get(&format!("/v1/analytics/prompts/{}", a.name)).await;
        assert_eq!(
            (daily.json["bucket"].as_str(), daily.json["series"].as_array().map(Vec::len)),
            (Some("day"), Some(1))
        );
        answers.push([summary.json, windowed.json, prompt.json, daily.json].map(without_freshness));
    }
    assert_eq!(answers[0], answers[1], "rollups and the live tail give the same answers");
    let r = app.get(&summary_path).await;
    assert_eq!(r.json["rollups_through"], format_ms(H0 + 6 * HOUR_MS));

    // Executions after the watermark are read live, before any fold.
    let late = vec![execution(H0 + 6 * HOUR_MS + 60_000, "succeeded", Some(120))];
    seed::executions(&db, &late).await;
    let r = app.get(&summary_path).await;
    check(&r.json, &expected(rows.iter().chain(&late)), "live tail");
    app.finish().await;
}

async fn day_totals_serve_long_ranges(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let db = app.db.native();
    let a = seed::prompt(&db, &unique("translate"), 2).await;
    let b = seed::prompt(&db, &unique("extract"), 1).await;
    // 600 runs over 77 hours, from the evening before H0 to the morning two days after.
    let first = H0 - 20 * HOUR_MS;
    let rows: Vec<Execution> = workload(&a, &b)
        .into_iter()
        .chain(workload(&a, &b).into_iter().take(200))
        .enumerate()
        .map(|(i, mut x)| {
            x.id = uuid::Uuid::now_v7().to_string();
            x.created_at = first + i as i64 * (77 * HOUR_MS / 600) + i as i64 % 5;
            x.completed_at = x.completed_at.map(|_| x.created_at + x.latency_ms.unwrap_or(3));
            x
        })
        .collect();
    seed::executions(&db, &rows).await;
    let end = first + 77 * HOUR_MS;
    let window = (H0 + 7 * HOUR_MS + 123, H0 + DAY_MS + 30 * HOUR_MS);
    let paths = [
        "/v1/analytics/summary".to_owned(),
        format!("/v1/analytics/summary?since={}&until={}", window.0, window.1),
        format!("/v1/analytics/prompts/{}?bucket=day", a.name),
        format!("/v1/analytics/prompts/{}?bucket=hour&since={}", a.name, window.0),
    ];
    let of_a = |x: &&Execution| x.prompt.as_ref().is_some_and(|p| p.0 == a.id);
    let mut answers = Vec::new();
    for pass in ["live", "rolled up"] {
        if pass == "rolled up" {
            let host = host(&app, 0);
            let (mut hours, mut passes) = (0, 0);
            loop {
                let report = rollup::fold(&host, end + HOUR_MS).await.unwrap();
                hours += report.hours_recomputed;
                passes += 1;
                if report.caught_up {
                    break;
                }
            }
            assert_eq!(hours, 77, "a long backlog is folded over several bounded passes");
            assert!(passes > 1, "the backlog took more than one pass");
            let day_rows = count(
                &db,
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM analytics_rollups WHERE bucket_start % 3600000 = 1",
            )
            .await;
            assert!(day_rows > 0);
        }
        let mut bodies = Vec::new();
        for path in &paths {
            let r = app.get(path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            bodies.push(r.json);
        }
        check(&bodies[0], &expected(&rows), &format!("{pass} summary"));
        check(
            &bodies[1],
            &expected(rows.iter().filter(|x| x.created_at >= window.0 && x.created_at < window.1)),
            &format!("{pass} window"),
        );
        let days = bodies[2]["series"].as_array().unwrap();
        assert_eq!(days.len(), 4);
        for (d, point) in days.iter().enumerate() {
            let start = floor_day(first) + d as i64 * DAY_MS;
            assert_eq!(point["bucket_start"], format_ms(start), "{pass}");
            check(
                point,
                &expected(rows.iter().filter(of_a).filter(|x| x.created_at >= start && x.created_at < start + DAY_MS)),
                &format!("{pass} day {d}"),
            );
        }
        let hours = bodies[3]["series"].as_array().unwrap();
        assert_eq!(hours.len() as i64, (end - floor_hour(window.0)) / HOUR_MS);
        check(
            &hours[3],
            &expected(rows.iter().filter(of_a).filter(|x| {
                x.created_at >= floor_hour(window.0) + 3 * HOUR_MS && x.created_at < floor_hour(window.0) + 4 * HOUR_MS
            })),
            &format!("{pass} hour"),
        );
        answers.push(bodies.into_iter().map(without_freshness).collect::<Vec<_>>());
    }
    assert_eq!(answers[0], answers[1], "day totals, hour rows and live reads agree");
    app.finish().await;
}

/// Rollup rows as comparable text (without `updated_at`).
async fn rollup_snapshot<D: Db>(db: &D) -> Vec<String> {
    let rows = db
        .query(
            "SELECT bucket_start, prompt_version_id, prompt_id, version, provider, model_name, status, error_type, \
             executions, prompt_tokens, response_tokens, cost_nanos, latency_sum_ms, latency_hist \
             FROM analytics_rollups ORDER BY bucket_start, prompt_version_id, provider, model_name, status, error_type",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {} {:?} {} {} {} {} {} {} {} {} {} {}",
                r.i64("bucket_start").unwrap(),
                r.str("prompt_version_id").unwrap(),
                r.str("prompt_id").unwrap(),
                r.opt_i64("version").unwrap(),
                r.str("provider").unwrap(),
                r.str("model_name").unwrap(),
                r.str("status").unwrap(),
                r.str("error_type").unwrap(),
                r.i64("executions").unwrap(),
                r.i64("prompt_tokens").unwrap(),
                r.i64("response_tokens").unwrap(),
                r.i64("cost_nanos").unwrap(),
                r.i64("latency_sum_ms").unwrap(),
                r.json("latency_hist").unwrap(),
            )
        })
        .collect()
}

async fn folds_are_idempotent_even_when_run_concurrently(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let db = app.db.native();
    let a = seed::prompt(&db, &unique("summarize"), 2).await;
    let b = seed::prompt(&db, &unique("classify"), 1).await;
    let rows = workload(&a, &b);
    seed::executions(&db, &rows).await;
    let (one, two) = (host(&app, 0), host(&app, 0));
    let now = H0 + 6 * HOUR_MS;

    rollup::fold(&one, now).await.unwrap();
    let first = rollup_snapshot(&db).await;
    assert!(!first.is_empty());
    let again = rollup::fold(&one, now).await.unwrap();
    assert_eq!((again.hours_recomputed, again.caught_up), (0, true), "nothing finished since the watermark");
    assert_eq!(rollup_snapshot(&db).await, first);

    // Forget the watermark: every hour is recomputed, to the same rows.
    db.execute("DELETE FROM ledger_state", &[]).await.unwrap();
    assert_eq!(rollup::fold(&one, now).await.unwrap().hours_recomputed, 5);
    assert_eq!(rollup_snapshot(&db).await, first);

    // Two replicas folding at once, from scratch.
    db.execute("DELETE FROM analytics_rollups", &[]).await.unwrap();
    db.execute("DELETE FROM ledger_state", &[]).await.unwrap();
    // Whether the second waits for the first (and then finds nothing new) or
    // both recompute, the rows must come out the same.
    let (x, y) = join!(rollup::fold(&one, now), rollup::fold(&two, now));
    let (x, y) = (x.unwrap().hours_recomputed, y.unwrap().hours_recomputed);
    assert!(x.max(y) == 5 && [0, 5].contains(&x.min(y)), "recomputed {x} and {y} hours");
    assert_eq!(rollup_snapshot(&db).await, first);
    let r = app.get("/v1/analytics/summary").await;
    check(&r.json, &expected(&rows), "after concurrent folds");

    // A run that finishes late in an hour already folded: the next pass recomputes that hour.
    let mut late = execution(H0 + 30 * 60_000, "failed", Some(2_500));
    late.error_type = Some("timeout");
    late.completed_at = Some(now + 60_000);
    seed::executions(&db, std::slice::from_ref(&late)).await;
    let (x, y) = join!(rollup::fold(&one, now + 2 * 60_000), rollup::fold(&two, now + 2 * 60_000));
    let (x, y) = (x.unwrap().hours_recomputed, y.unwrap().hours_recomputed);
    assert!(x.max(y) == 1 && [0, 1].contains(&x.min(y)), "recomputed {x} and {y} hours");
    let all: Vec<Execution> = rows.iter().cloned().chain([late]).collect();
    let r = app.get("/v1/analytics/summary").await;
    check(&r.json, &expected(&all), "after the late run is folded");
    assert_eq!(r.json["rollups_through"], format_ms(floor_hour(now + 2 * 60_000)));
    app.finish().await;
}

async fn count<D: Db>(db: &D, sql: &str) -> i64 {
    db.query(sql, &[]).await.unwrap()[0].i64("n").unwrap()
}

async fn retention_deletes_only_old_rows_and_keeps_rollups(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let db = app.db.native();
    // Runs folded while recent, then deleted a day later.
    let cutoff = H0 + 2 * DAY_MS;
    let folded_at = cutoff + 10 * 60_000;
    let now = cutoff + DAY_MS + 25 * 60_000;
    assert_eq!(floor_hour(now - DAY_MS), cutoff);
    let old = execution(cutoff - 1, "succeeded", Some(2));
    let kept = execution(cutoff, "succeeded", Some(2));
    let unfinished = execution(cutoff - HOUR_MS, "running", None);
    seed::executions(&db, &[old.clone(), kept.clone(), unfinished.clone()]).await;
    let keeper = host(&app, 1);

    let r = retention::apply(&keeper, now).await.unwrap();
    assert_eq!(r.executions_deleted, 0, "nothing is deleted before the rollups have folded it");
    assert_eq!(retention::apply(&host(&app, 0), now).await.unwrap(), retention::RetentionReport::default());

    rollup::fold(&keeper, folded_at).await.unwrap();
    let rollups = rollup_snapshot(&db).await;
    let r = retention::apply(&keeper, now).await.unwrap();
    assert_eq!(r.executions_deleted, 1);
    let ids = |id: &str| format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM executions WHERE id = '{id}'");
    assert_eq!(count(&db, &ids(&old.id)).await, 0, "just older than the cutoff: deleted");
    assert_eq!(count(&db, &ids(&kept.id)).await, 1, "at the cutoff: kept");
    assert_eq!(count(&db, &ids(&unfinished.id)).await, 1, "unfinished runs are kept");
    let inputs =
        format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM execution_inputs WHERE execution_id = '{}'", old.id);
    assert_eq!(count(&db, &inputs).await, 0);
    assert_eq!(rollup_snapshot(&db).await, rollups, "rollups are never deleted");
    let r = app.get("/v1/analytics/summary").await;
    check(&r.json, &expected([&old, &kept]), "deleted runs still count through their rollups");

    // Two replicas at once, over more than one batch: every row deleted exactly once.
    let many: Vec<Execution> = (0..2_500).map(|i| execution(cutoff - 2 * HOUR_MS - i, "failed", Some(9))).collect();
    seed::executions(&db, &many).await;
    let other = host(&app, 1);
    let (x, y) = join!(retention::apply(&keeper, now), retention::apply(&other, now));
    let mut deleted = x.unwrap().executions_deleted + y.unwrap().executions_deleted;
    deleted += retention::apply(&keeper, now).await.unwrap().executions_deleted;
    assert_eq!(deleted, 2_500);
    assert_eq!(count(&db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM executions").await, 2);
    assert_eq!(count(&db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM execution_inputs").await, 2);
    assert_eq!(rollup_snapshot(&db).await, rollups);
    app.finish().await;
}

scenarios::both_backends!(
    live_and_rolled_up_answers_agree,
    day_totals_serve_long_ranges,
    folds_are_idempotent_even_when_run_concurrently,
    retention_deletes_only_old_rows_and_keeps_rollups,
);
