//! Where the time goes when reading a large trace and ingesting a batch,
//! phase by phase, natively on PostgreSQL. Ignored by default; run with
//! `cargo test --release -p scenarios --test lineage_perf -- --ignored --nocapture`.
//! Wasm under Spin runs the same code a few times slower, so these figures
//! point at the hot spots of `GET /v1/traces/{id}` and `POST /v1/traces`.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use ledger::lineage::{ingest, tree};
use ledger::ports::{Db, DbError, Dialect, Row, Value};
use ledger::store::spans as span_store;
use scenarios::{Backend, TestApp};
use serde_json::{Value as Json, json};

const ROUNDS: usize = 40;

/// A [`Db`] that adds up the time spent in the driver (round trip and row
/// conversion), so the caller's own work is the rest.
struct Timed<'a, D> {
    db: &'a D,
    /// Each statement's first words and time, since the last [`Timed::take`].
    log: RefCell<Vec<(String, Duration)>>,
}

impl<'a, D: Db> Timed<'a, D> {
    fn new(db: &'a D) -> Self {
        Timed { db, log: RefCell::new(Vec::new()) }
    }

    fn take(&self) -> Vec<(String, Duration)> {
        self.log.take()
    }

    fn add(&self, sql: &str, started: Instant) {
        let head: Vec<&str> = sql.split_whitespace().take(3).collect();
        self.log.borrow_mut().push((head.join(" "), started.elapsed()));
    }
}

fn total(log: &[(String, Duration)]) -> Duration {
    log.iter().map(|(_, d)| *d).sum()
}

impl<D: Db> Db for Timed<'_, D> {
    fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let started = Instant::now();
        let rows = self.db.query(sql, params).await;
        self.add(sql, started);
        rows
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let started = Instant::now();
        let n = self.db.execute(sql, params).await;
        self.add(sql, started);
        n
    }
}

/// Prints the median and the fastest of per-round timings: on a busy
/// machine the fastest round is the better estimate of the work itself.
fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("{label:<48} {:>8.3} ms  (fastest {:.3} ms)", ms(samples[samples.len() / 2]), ms(samples[0]));
}

/// The bench's large trace: 1,000 spans, span n a child of span (n-1)/10.
fn big_trace_batches(trace_id: &str) -> Vec<Json> {
    (0..10)
        .map(|batch| {
            let spans: Vec<Json> = (0..100)
                .map(|i| {
                    let n = batch * 100 + i;
                    json!({ "span_id": format!("{n:016x}"), "trace_id": trace_id,
                        "parent_span_id": if n == 0 { Json::Null } else { json!(format!("{:016x}", (n - 1) / 10)) },
                        "name": format!("step {n}"), "started_at": 1_700_000_000_000i64 + n,
                        "ended_at": 1_700_000_000_500i64 + n, "status": "ok" })
                })
                .collect();
            json!({ "trace_id": trace_id, "service_name": "bench", "spans": spans })
        })
        .collect()
}

/// The bench's ingest batch: 100 spans of a new trace, each with one attribute.
fn ingest_batch(trace_id: &str) -> Json {
    let spans: Vec<Json> = (0..100)
        .map(|i| {
            json!({
                "span_id": format!("{i:016x}"), "trace_id": trace_id,
                "parent_span_id": if i == 0 { Json::Null } else { json!(format!("{:016x}", 0)) },
                "name": format!("step {i}"), "span_type": "llm", "started_at": 1_700_000_000_000i64 + i,
                "ended_at": 1_700_000_000_100i64 + i, "status": "ok", "attributes": { "i": i },
            })
        })
        .collect();
    json!({ "trace_id": trace_id, "service_name": "bench", "spans": spans })
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "timing harness; run explicitly with --ignored --nocapture"]
async fn trace_read_phases() {
    let app = TestApp::in_process(Backend::Postgres).await;
    let trace_id = format!("{:032x}", 0xfeed_u128);
    for body in big_trace_batches(&trace_id) {
        let r = app.post("/v1/traces", body).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let db = app.db.native();
    let timed = Timed::new(&db);
    let path = format!("/v1/traces/{trace_id}");
    let (mut whole, mut sql, mut decode, mut build, mut encode) = (vec![], vec![], vec![], vec![], vec![]);
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let r = app.get(&path).await;
        whole.push(started.elapsed());
        assert_eq!(r.status, 200);
        bytes = r.body.len();

        let started = Instant::now();
        let spans = span_store::for_trace(&timed, &trace_id, 10_001).await.unwrap();
        let read = started.elapsed();
        let in_driver = total(&timed.take());
        sql.push(in_driver);
        decode.push(read - in_driver);

        let started = Instant::now();
        let (roots, _) = tree::build(&spans);
        build.push(started.elapsed());

        let started = Instant::now();
        let body = serde_json::to_vec(&roots).unwrap();
        encode.push(started.elapsed());
        assert!(body.len() > 100_000);
    }
    println!("\nGET /v1/traces/{{id}}, 1,000 spans, {bytes} bytes; median of {ROUNDS}:");
    report("whole request, in-process", whole);
    report("spans query (PostgreSQL + driver rows)", sql);
    report("rows to spans (Row decoding)", decode);
    report("tree::build", build);
    report("encoding the tree to bytes", encode);
    row_decoding_detail(&db, &trace_id).await;
    app.finish().await;
}

/// What decoding one column costs: name lookup alone, text, and JSON columns.
async fn row_decoding_detail<D: Db>(db: &D, trace_id: &str) {
    let rows = db
        .query("SELECT * FROM spans WHERE trace_id = $1 ORDER BY started_at_us, span_id", &[trace_id.into()])
        .await
        .unwrap();
    let columns = ["trace_id", "span_id", "parent_span_id", "name", "created_at", "attributes", "events"];
    let (mut lookup, mut json) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for r in &rows {
            for c in columns {
                std::hint::black_box(r.opt_str(c).ok());
            }
        }
        lookup.push(started.elapsed());
        let started = Instant::now();
        for r in &rows {
            std::hint::black_box((r.json("attributes").unwrap(), r.json("events").unwrap()));
        }
        json.push(started.elapsed());
    }
    report(&format!("  {} rows x {} text reads by name", rows.len(), columns.len()), lookup);
    report(&format!("  {} rows x 2 JSON columns parsed", rows.len()), json);
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "timing harness; run explicitly with --ignored --nocapture"]
async fn ingest_phases() {
    let app = TestApp::in_process(Backend::Postgres).await;
    let db = app.db.native();
    let timed = Timed::new(&db);
    let (mut whole, mut parse_json, mut parse_spans, mut sql, mut write_rest) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut statements: Vec<Vec<(String, Duration)>> = Vec::new();
    for round in 0..ROUNDS {
        let bytes = serde_json::to_vec(&ingest_batch(&format!("{:032x}", 0xa000 + round))).unwrap();
        let started = Instant::now();
        let r = app
            .request(http::Method::POST, "/v1/traces")
            .header("content-type", "application/json")
            .raw_body(bytes)
            .send()
            .await;
        whole.push(started.elapsed());
        assert_eq!(r.status, 200, "{}", r.text());

        let bytes = serde_json::to_vec(&ingest_batch(&format!("{:032x}", 0xb000 + round))).unwrap();
        let started = Instant::now();
        let body: Json = serde_json::from_slice(&bytes).unwrap();
        parse_json.push(started.elapsed());
        let started = Instant::now();
        let batch = ingest::parse_body(&body).unwrap();
        parse_spans.push(started.elapsed());
        let started = Instant::now();
        ingest::write(&timed, &batch.spans, &batch.trace, 1_700_000_000_000).await.unwrap();
        let took = started.elapsed();
        let log = timed.take();
        let in_driver = total(&log);
        statements.push(log);
        sql.push(in_driver);
        write_rest.push(took - in_driver);
    }
    println!("\nPOST /v1/traces, 100 spans, a new trace each; median of {ROUNDS}:");
    report("whole request, in-process", whole);
    report("body bytes to JSON value", parse_json);
    report("parse_body (spans parsed and validated)", parse_spans);
    report(&format!("write: {} statements in the driver", statements[0].len()), sql);
    for (i, (head, _)) in statements[0].iter().enumerate() {
        report(&format!("  {i}: {head}"), statements.iter().map(|log| log[i].1).collect());
    }
    report("write: our own work around them", write_rest);
    app.finish().await;
}

/// Every lineage response for a trace that uses each feature (attributes,
/// events, payloads, executions, orphans, cycles, deep chains, OTLP,
/// rejections, listing), written byte for byte to the file named by
/// `LINEAGE_RESPONSES`, so two versions of the code can be compared with
/// `cmp`. Ids and times are fixed; nothing depends on the clock.
#[tokio::test(flavor = "current_thread")]
#[ignore = "writes responses for comparison; run explicitly with LINEAGE_RESPONSES=path"]
async fn lineage_responses_byte_for_byte() {
    let Ok(path) = std::env::var("LINEAGE_RESPONSES") else { return };
    let mut out = Vec::new();
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let app = TestApp::in_process(backend).await;
        record_responses(&app, &mut out).await;
        app.finish().await;
    }
    std::fs::write(&path, out).unwrap();
}

/// [`lineage_responses_byte_for_byte`] against `spin up` (the components
/// built for wasm32-wasip2), to compare builds of the traces component.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes responses for comparison; run explicitly with LINEAGE_RESPONSES=path and a spin binary"]
async fn lineage_responses_byte_for_byte_under_spin() {
    let Ok(path) = std::env::var("LINEAGE_RESPONSES") else { return };
    let mut out = Vec::new();
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let (app, _spin) = scenarios::spin::start(backend, &["health", "traces"]).await;
        record_responses(&app, &mut out).await;
        app.finish().await;
    }
    std::fs::write(&path, out).unwrap();
}

async fn record_responses(app: &TestApp, out: &mut Vec<u8>) {
    seed_linked_execution(&app.db.native()).await;
    let backend = app.backend();
    let mut record = |label: &str, r: scenarios::TestResponse| {
        out.extend_from_slice(format!("== {backend:?} {label} {}\n", r.status).as_bytes());
        out.extend_from_slice(&r.body);
        out.push(b'\n');
    };
    record("prela", app.post("/v1/traces", prela_fixture()).await);
    record("otlp", app.post("/v1/traces", otlp_fixture()).await);
    let bare = json!([{"trace_id": "bare", "span_id": "only", "name": "n", "started_at": 5}]);
    record("bare", app.post("/v1/spans", bare).await);
    record("deep", app.post("/v1/spans", deep_chain()).await);
    app.db.native().execute("UPDATE spans SET input = 'not json {' WHERE span_id = 'b'", &[]).await.unwrap();
    for path in [
        "/v1/traces/golden",
        "/v1/traces/0af7651916cd43dd8448eb211c80319c",
        "/v1/traces/bare",
        "/v1/traces/deep",
        "/v1/traces/missing",
        "/v1/traces?limit=10",
        "/v1/traces?limit=1",
        "/v1/traces?has_error=true&service=svc",
    ] {
        record(path, app.get(path).await);
    }
}

async fn seed_linked_execution<D: Db>(db: &D) {
    let statements = [
        "INSERT INTO prompts (id, name, mode, latest_version, created_at, updated_at) \
         VALUES ('p-1', 'answer', 'full', 3, 0, 0)",
        "INSERT INTO prompt_versions (id, prompt_id, version, kind, template, checksum_hash, status, created_at) \
         VALUES ('pv-3', 'p-1', 3, 'text', 'Hello', 'sum-3', 'active', 0)",
        "INSERT INTO executions (id, prompt_id, prompt_version_id, prompt_name, version, provider, model_name, mode, \
         status, created_at, started_at, completed_at, updated_at) \
         VALUES ('exec-1', 'p-1', 'pv-3', 'old name', 1, 'openai', 'gpt-4o', 'sync', 'succeeded', 0, 0, 1, 1)",
    ];
    for sql in statements {
        db.execute(sql, &[]).await.unwrap();
    }
}

fn prela_fixture() -> Json {
    json!({
        "trace_id": "golden", "service_name": "svc", "status": "success",
        "started_at": "2024-05-01T10:00:00Z", "completed_at": "2024-05-01T10:00:02.5Z",
        "spans": [
            { "span_id": "root", "name": "answer ☃ \"quoted\"\n", "span_type": "agent", "started_at": 1714557600,
              "ended_at": 1714557601.25, "status": "ok",
              "attributes": { "z": 1, "a": { "nested": [1, 2.5, "ü\n\"q\"", null, true] }, "llm.model": "gpt-4o",
                              "big": 12345678901234567890u64, "neg": -3, "f": 1e-7, "e": 1.5e300 },
              "events": [{ "name": "e1", "timestamp": 1714557600, "attributes": { "k": "v" } }, { "name": "no ts" }],
              "input": { "messages": [{ "role": "user", "content": "hi ☃ \u{1F600}" }] }, "output": "plain string",
              "prompt_tokens": 12, "completion_tokens": "7", "execution_id": "exec-1" },
            { "span_id": "b", "parent_span_id": "root", "name": "b", "started_at": "2024-05-01T10:00:00.5Z",
              "duration_ms": 12.5, "input": "text input", "output": { "answer": 42 }, "execution_id": "no-such-execution" },
            { "span_id": "a", "parent_span_id": "root", "name": "a", "started_at": "2024-05-01T10:00:00.5Z",
              "status": "error", "output": [1, "two", { "three": 3 }], "model": "m" },
            { "span_id": "a1", "parent_span_id": "a", "name": "grandchild", "started_at": 1714557600600i64,
              "attributes": { "gen_ai.usage.input_tokens": 3 } },
            { "span_id": "lost", "parent_span_id": "gone", "name": "orphan", "started_at": 1714557600700i64 },
            { "span_id": "x", "parent_span_id": "y", "name": "cycle x", "started_at": 1714557600800i64 },
            { "span_id": "y", "parent_span_id": "x", "name": "cycle y", "started_at": 1714557600900i64 },
            { "span_id": "self", "parent_span_id": "self", "name": "self", "started_at": 1714557601000i64,
              "input": 3, "output": null },
            { "span_id": "bad", "name": "no start" },
            { "span_id": "bad2", "name": "bad attrs", "started_at": 1, "attributes": [] }
        ]
    })
}

fn otlp_fixture() -> Json {
    let trace = "0AF7651916CD43DD8448EB211C80319C";
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": [
            { "traceId": trace, "spanId": "00f067aa0ba902b7", "name": "chat gpt-4o", "kind": 3,
              "startTimeUnixNano": "1714557600000000000", "endTimeUnixNano": 1714557600250000000u64,
              "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                {"key": "promptledger.execution_id", "value": {"stringValue": "exec-1"}},
                {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"doubleValue": 1.5}]}}}
              ],
              "events": [{"timeUnixNano": "1714557600100000000", "name": "first token"}],
              "status": {"code": "STATUS_CODE_ERROR", "message": "rate limited"} },
            { "traceId": trace, "spanId": "00f067aa0ba902b8", "parentSpanId": "00f067aa0ba902b7", "name": "tool",
              "startTimeUnixNano": "1714557600050000000" },
            { "traceId": "abc", "spanId": "00f067aa0ba902b9", "name": "bad id", "startTimeUnixNano": "1" }
        ]}]
    }]})
}

/// A chain deeper than the tree's depth limit, so it is cut into several roots.
fn deep_chain() -> Json {
    let spans: Vec<Json> = (0..600)
        .map(|i| {
            json!({ "trace_id": "deep", "span_id": format!("d{i:04}"),
                    "parent_span_id": (i > 0).then(|| format!("d{:04}", i - 1)),
                    "name": format!("level {i}"), "started_at": 1714557600000i64 + i })
        })
        .collect();
    Json::Array(spans)
}
