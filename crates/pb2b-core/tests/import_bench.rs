//! Import benchmarks, all `#[ignore]`d: `bench/import/run.sh` runs them in release mode, one
//! process each, and writes the figures to docs/PERFORMANCE.md. Nothing here asserts a speed;
//! each prints one JSON line `BENCH {...}` with what it measured.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pb2b_core::api::{Client, ClientConfig, NoopObserver};
use pb2b_core::import::{self, ImportProgress, ReadProgress, RunOptions};
use pb2b_core::secret::SecretString;
use pb2b_core::store::Store;
use pb2b_sandbox::SandboxConfig;
use tokio_util::sync::CancellationToken;

/// A typical 8-column export (first, last, email, company, title, phone, LinkedIn, website),
/// written streaming until `rows` rows or `bytes` bytes.
fn generate(path: &Path, rows: u64, bytes: u64) -> (u64, u64) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let header = "First Name,Last Name,Email,Company,Job Title,Phone Number,LinkedIn URL,Website\n";
    w.write_all(header.as_bytes()).unwrap();
    let mut written = header.len() as u64;
    let mut n = 0;
    while n < rows && written < bytes {
        let line = format!(
            "Ada{n},Lovelace{n},ada.lovelace.{n}@example.com,\"Analytical Engines {m}, Ltd\",Chief Engineer,+44 20 7946 {p:04},https://www.linkedin.com/in/ada-{n},https://www.engines{m}.com\n",
            m = n % 5000,
            p = n % 10_000
        );
        w.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        n += 1;
    }
    w.flush().unwrap();
    (n, written)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn bench_dir() -> PathBuf {
    let d = std::env::var("PB2B_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("pb2b-import-bench"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn validate(path: &Path) -> (import::ValidationSummary, f64) {
    let pv = import::preview(None, path, None, 0).unwrap();
    let t = Instant::now();
    let s = import::validate_file(
        path,
        &pv.mapping,
        &|_: &ReadProgress| {},
        &CancellationToken::new(),
    )
    .unwrap();
    (s, t.elapsed().as_secs_f64())
}

#[test]
#[ignore = "benchmark: bench/import/run.sh"]
fn bench_read_map_validate_1m_rows() {
    let path = bench_dir().join("1m.csv");
    let (rows, bytes) = generate(&path, 1_000_000, u64::MAX);
    let t = Instant::now();
    let pv = import::preview(None, &path, None, 20).unwrap();
    let preview_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (s, secs) = validate(&path);
    assert_eq!(s.counts.will_create, rows);
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "validate_1m",
            "rows": rows,
            "bytes": bytes,
            "seconds": secs,
            "rows_per_sec": rows as f64 / secs,
            "mb_per_sec": bytes as f64 / secs / 1e6,
            "preview_ms": preview_ms,
            "preview_estimated_rows": pv.estimated_rows,
        })
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
#[ignore = "benchmark: bench/import/run.sh"]
fn bench_validate_1gb_peak_memory() {
    let path = bench_dir().join("1gb.csv");
    let (rows, bytes) = generate(&path, u64::MAX, 1 << 30);
    let before = peak_rss_kib();
    let (s, secs) = validate(&path);
    assert_eq!(s.counts.will_create, rows);
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "validate_1gb",
            "rows": rows,
            "bytes": bytes,
            "seconds": secs,
            "rows_per_sec": rows as f64 / secs,
            "peak_rss_mib_before": before as f64 / 1024.0,
            "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
        })
    );
    let _ = std::fs::remove_file(&path);
}

fn client(base_url: &str, key: &str) -> Client {
    let mut c = ClientConfig::new(base_url);
    c.request_timeout = Duration::from_secs(30);
    Client::new(c, SecretString::new(key.to_owned()), Arc::new(NoopObserver)).unwrap()
}

async fn import_rows(
    cfg: SandboxConfig,
    rows: u64,
    opts: RunOptions,
) -> (import::ImportSummary, Vec<(f64, u64)>, f64) {
    let sb = pb2b_sandbox::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.csv");
    generate(&path, rows, u64::MAX);
    let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
    let pv = import::preview(None, &path, None, 0).unwrap();
    let t = Instant::now();
    let job = import::stage(
        &store,
        &owner(),
        &path,
        &pv.mapping,
        &|_: &ReadProgress| {},
        &CancellationToken::new(),
    )
    .unwrap();
    let stage_secs = t.elapsed().as_secs_f64();
    let trace: Arc<Mutex<Vec<(f64, u64)>>> = Arc::default();
    let trace2 = trace.clone();
    let start = Instant::now();
    let s = import::run(
        &client(&sb.base_url, &sb.keys.full),
        &store,
        &job.id,
        &opts,
        &move |p: &ImportProgress| {
            trace2
                .lock()
                .unwrap()
                .push((start.elapsed().as_secs_f64(), p.counts.created))
        },
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    sb.shutdown().await;
    let t = trace.lock().unwrap().clone();
    (s, t, stage_secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/import/run.sh"]
async fn bench_import_unthrottled() {
    let rows = 30_000;
    let (s, _, stage_secs) = import_rows(
        SandboxConfig {
            seed_demo: false,
            ..SandboxConfig::default()
        },
        rows,
        RunOptions::default(),
    )
    .await;
    assert_eq!(s.counts.created, rows);
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "import_unthrottled",
            "rows": rows,
            "stage_seconds": stage_secs,
            "seconds": s.elapsed_ms as f64 / 1000.0,
            "leads_per_sec": s.rows_per_sec,
            "failed": s.counts.failed,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/import/run.sh"]
async fn bench_import_rate_limited() {
    let n: u64 = std::env::var("PB2B_BENCH_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    // 2.5 windows' worth: the limit allows N in any 60 s, so the last rows can go at 120 s
    // at the earliest.
    let rows = n * 5 / 2;
    let (s, trace, _) = import_rows(
        SandboxConfig {
            seed_demo: false,
            rate_limit_per_minute: Some(n as u32),
            ..SandboxConfig::default()
        },
        rows,
        RunOptions::default(),
    )
    .await;
    assert_eq!(s.counts.created, rows);
    let secs = s.elapsed_ms as f64 / 1000.0;
    let ideal = ((rows - 1) / n) as f64 * 60.0;
    // When did the last row of each window land?
    let at = |k: u64| trace.iter().find(|(_, c)| *c >= k).map(|(t, _)| *t);
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "import_rate_limited",
            "limit_per_minute": n,
            "rows": rows,
            "seconds": secs,
            "ideal_seconds": ideal,
            "fraction_of_limit": ideal / secs,
            "sustained_per_minute": rows as f64 / secs * 60.0,
            "rate_limited_429": s.rate_limited,
            "failed": s.counts.failed,
            "window_marks": [at(n), at(2 * n), at(rows)],
        })
    );
}

/// The workspace these imports are journaled for (the in-process sandbox's).
fn owner() -> pb2b_core::workspace::Owner {
    pb2b_core::workspace::Owner {
        workspace_id: "ws_sandbox".into(),
        workspace_name: "Sandbox workspace".into(),
        key_prefix: "pb2b_test_tests".into(),
    }
}
