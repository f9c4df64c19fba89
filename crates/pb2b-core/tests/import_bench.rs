//! Import benchmarks, all `#[ignore]`d: `bench/import/run.sh` runs them in release mode, one
//! process each, and writes the figures to docs/PERFORMANCE.md. Nothing here asserts a speed;
//! each prints one JSON line `BENCH {...}` with what it measured.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pb2b_core::api::{Client, ClientConfig};
use pb2b_core::import::{self, ImportProgress, ReadProgress, RunOptions};
use pb2b_core::secret::SecretString;
use pb2b_core::store::{RequestLog, Store, DEFAULT_RETENTION};
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

/// The anchor of the read + map + validate figure: the `csv` crate reading the same file as a
/// loop of `ByteRecord`s (default reader settings, header skipped), nothing else done.
fn csv_crate_loop(path: &Path) -> (u64, f64) {
    let t = Instant::now();
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut rec = csv::ByteRecord::new();
    let mut n = 0u64;
    while r.read_byte_record(&mut rec).unwrap() {
        n += 1;
    }
    (n, t.elapsed().as_secs_f64())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: bench/import/run.sh"]
fn bench_read_map_validate_1m_rows() {
    let path = bench_dir().join("1m.csv");
    let (rows, bytes) = generate(&path, 1_000_000, u64::MAX);
    let t = Instant::now();
    let pv = import::preview(None, &path, None, 20).unwrap();
    let preview_ms = t.elapsed().as_secs_f64() * 1000.0;
    // The anchor and the pass alternate, 5 runs each, in this process on the same (cached) file;
    // the medians are compared.
    let (mut ours, mut anchor) = (Vec::new(), Vec::new());
    let _ = csv_crate_loop(&path);
    for _ in 0..5 {
        let (n, secs) = csv_crate_loop(&path);
        assert_eq!(n, rows);
        anchor.push(secs);
        let (s, secs) = validate(&path);
        assert_eq!(s.counts.will_create, rows);
        ours.push(secs);
    }
    let (secs, csv_secs) = (median(&mut ours), median(&mut anchor));
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "validate_1m",
            "rows": rows,
            "bytes": bytes,
            "seconds": secs,
            "runs_seconds": ours,
            "rows_per_sec": rows as f64 / secs,
            "mb_per_sec": bytes as f64 / secs / 1e6,
            "csv_crate_seconds": csv_secs,
            "csv_crate_runs_seconds": anchor,
            "ratio_to_csv_crate": secs / csv_secs,
            "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
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

/// A client as the app and `pb2b` make one for a workspace (`DataFolder::client`): every
/// exchange recorded in the request log of the store the import journals in, so the benchmark
/// pays what an import pays for its Activity rows.
fn client(base_url: &str, key: &str, store: &Store) -> Client {
    let mut c = ClientConfig::new(base_url);
    c.request_timeout = Duration::from_secs(30);
    let log = RequestLog::new(store.clone(), "bench", DEFAULT_RETENTION);
    Client::new(c, SecretString::new(key.to_owned()), Arc::new(log)).unwrap()
}

/// The sandbox an import bench sends to: the one named by `PB2B_BENCH_BASE_URL` and
/// `PB2B_BENCH_KEY` (a `pb2b-sandbox` process `bench/import/run.sh` started, the same binary wrk
/// measured), else one started in this process.
enum Target {
    External { base_url: String, key: String },
    InProcess(Box<pb2b_sandbox::Sandbox>),
}

impl Target {
    async fn start(cfg: SandboxConfig, external_ok: bool) -> Target {
        match (
            std::env::var("PB2B_BENCH_BASE_URL"),
            std::env::var("PB2B_BENCH_KEY"),
        ) {
            (Ok(base_url), Ok(key)) if external_ok => {
                assert!(base_url.starts_with("http://127.0.0.1:"), "loopback only");
                Target::External { base_url, key }
            }
            _ => Target::InProcess(Box::new(pb2b_sandbox::start(cfg).await.unwrap())),
        }
    }

    fn client(&self, store: &Store) -> Client {
        match self {
            Target::External { base_url, key } => client(base_url, key, store),
            Target::InProcess(sb) => client(&sb.base_url, &sb.keys.full, store),
        }
    }

    async fn stop(self) {
        if let Target::InProcess(sb) = self {
            sb.shutdown().await;
        }
    }
}

async fn import_rows(
    cfg: SandboxConfig,
    external_ok: bool,
    rows: u64,
    opts: RunOptions,
) -> (import::ImportSummary, Vec<(f64, u64)>, f64, f64) {
    let sb = Target::start(cfg, external_ok).await;
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
    let cpu = cpu_seconds("/proc/self/stat");
    let s = import::run(
        &sb.client(&store),
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
    let cpu = cpu_seconds("/proc/self/stat") - cpu;
    sb.stop().await;
    let t = trace.lock().unwrap().clone();
    (s, t, stage_secs, cpu)
}

/// The per-row import at full speed. `PB2B_BENCH_RUNTIME` says how the import runs, as each
/// front runs it: `cli` on one current-thread runtime (`pb2b`'s `main`), `app` spawned on a
/// runtime's two workers (the app's `jobs::spawn`), `inline` (the default, as the earlier
/// figures were measured) awaited on the test's thread beside two workers.
#[test]
#[ignore = "benchmark: bench/import/run.sh"]
fn bench_import_unthrottled() {
    let how = std::env::var("PB2B_BENCH_RUNTIME").unwrap_or_else(|_| "inline".into());
    let rt = match how.as_str() {
        "cli" => tokio::runtime::Builder::new_current_thread(),
        "app" | "inline" => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
        other => panic!("PB2B_BENCH_RUNTIME: cli, app or inline, not {other}"),
    }
    .enable_all()
    .build()
    .unwrap();
    let rows: u64 = std::env::var("PB2B_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let work = import_rows(
        SandboxConfig {
            seed_demo: false,
            ..SandboxConfig::default()
        },
        true,
        rows,
        RunOptions::default(),
    );
    let (s, _, stage_secs, cpu) = if how == "app" {
        rt.block_on(async { tokio::spawn(work).await.unwrap() })
    } else {
        rt.block_on(work)
    };
    assert_eq!(s.counts.created, rows);
    // The anchor: wrk's POST /leads rate against the same sandbox binary, measured by run.sh
    // just before this run.
    let wrk: Option<f64> = std::env::var("PB2B_BENCH_WRK_RPS")
        .ok()
        .and_then(|v| v.parse().ok());
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "import_unthrottled",
            "rows": rows,
            "runtime": how,
            "sandbox": if std::env::var("PB2B_BENCH_BASE_URL").is_ok() { "process" } else { "in-process" },
            "stage_seconds": stage_secs,
            "seconds": s.elapsed_ms as f64 / 1000.0,
            "leads_per_sec": s.rows_per_sec,
            // With the sandbox in its own process: the client's CPU alone.
            "cpu_ms_per_1000_rows": cpu * 1e6 / rows as f64,
            "wrk_post_leads_per_sec": wrk,
            "ratio_to_wrk": wrk.map(|w| s.rows_per_sec / w),
            "failed": s.counts.failed,
            "replayed": s.replayed,
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
    let (s, trace, _, _) = import_rows(
        SandboxConfig {
            seed_demo: false,
            rate_limit_per_minute: Some(n as u32),
            ..SandboxConfig::default()
        },
        false,
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

/// CPU time (user + system, seconds) from a `/proc/.../stat` file: the whole process (client
/// and in-process sandbox), or the calling thread (the test's, which drives the client).
fn cpu_seconds(stat: &str) -> f64 {
    let stat = std::fs::read_to_string(stat).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Bytes this process has handed to `write` so far (`wchar` of `/proc/self/io`): for a store
/// pass, its WAL frames and checkpoint copies.
fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Bulk import jobs against the per-row path, into the same unthrottled sandbox in the same run
/// (per-row first, then bulk, each its own file and journal): rows per second of each
/// `import::run` (staging not counted), the CPU time per 1,000 rows of the whole process (client
/// and sandbox) and of the thread driving the client, and the ratios.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/import/run.sh"]
async fn bench_import_bulk_vs_per_row() {
    let per_row_rows: u64 = 30_000;
    let bulk_rows: u64 = std::env::var("PB2B_BENCH_BULK_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
    let c = client(&sb.base_url, &sb.keys.full, &store);
    let mut out = Vec::new();
    for (name, rows, opts) in [
        ("per_row", per_row_rows, RunOptions::default()),
        (
            "bulk",
            bulk_rows,
            RunOptions {
                bulk: true,
                ..RunOptions::default()
            },
        ),
    ] {
        let path = dir.path().join(format!("{name}.csv"));
        generate(&path, rows, u64::MAX);
        let pv = import::preview(None, &path, None, 0).unwrap();
        let job = import::stage(
            &store,
            &owner(),
            &path,
            &pv.mapping,
            &|_: &ReadProgress| {},
            &CancellationToken::new(),
        )
        .unwrap();
        let (cpu, main) = (
            cpu_seconds("/proc/self/stat"),
            cpu_seconds("/proc/thread-self/stat"),
        );
        let s = import::run(
            &c,
            &store,
            &job.id,
            &opts,
            &|_| {},
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        let per_1000 = |t: f64| t * 1e6 / rows as f64;
        assert_eq!((s.status.as_str(), s.counts.created), ("completed", rows));
        out.push((
            name,
            rows,
            s.elapsed_ms as f64 / 1000.0,
            s.rows_per_sec,
            per_1000(cpu_seconds("/proc/self/stat") - cpu),
            per_1000(cpu_seconds("/proc/thread-self/stat") - main),
        ));
    }
    sb.shutdown().await;
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "import_bulk_vs_per_row",
            "per_row_rows": out[0].1,
            "per_row_seconds": out[0].2,
            "per_row_leads_per_sec": out[0].3,
            "per_row_cpu_ms_per_1000_rows": out[0].4,
            "per_row_client_thread_cpu_ms_per_1000_rows": out[0].5,
            "bulk_rows": out[1].1,
            "bulk_seconds": out[1].2,
            "bulk_leads_per_sec": out[1].3,
            "bulk_cpu_ms_per_1000_rows": out[1].4,
            "bulk_client_thread_cpu_ms_per_1000_rows": out[1].5,
            "bulk_batch_rows": RunOptions::default().bulk_batch_rows,
            "ratio": out[1].3 / out[0].3,
            "cpu_ratio": out[0].4 / out[1].4,
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

/// The mirror's lead for row `n` of [`generate`]'s file: the same values, except the job title
/// of every other one (so an upsert review finds half of them changed, half unchanged).
fn mirrored_lead(n: u64, at: &str) -> pb2b_core::api::Lead {
    let m = n % 5000;
    pb2b_core::api::Lead {
        id: format!("lead_{n:07}"),
        email: format!("ada.lovelace.{n}@example.com"),
        full_name: Some(format!("Ada{n} Lovelace{n}")),
        first_name: Some(format!("Ada{n}")),
        last_name: Some(format!("Lovelace{n}")),
        phone: Some(format!("+44 20 7946 {:04}", n % 10_000)),
        job_title: Some(
            if n.is_multiple_of(4) {
                "Chief Engineer"
            } else {
                "Engineer"
            }
            .into(),
        ),
        company_name: Some(format!("Analytical Engines {m}, Ltd")),
        company_domain: Some(format!("engines{m}.com")),
        linkedin_url: Some(format!("https://www.linkedin.com/in/ada-{n}")),
        status: "new".into(),
        source: "import".into(),
        custom_fields: Default::default(),
        created_at: at.to_owned(),
        updated_at: at.to_owned(),
    }
}

/// Fills `mirror` with `leads` leads through the sync engine's write path (the
/// [`Destination`](pb2b_core::sync::Destination) the engine drives: a first sync's bulk load,
/// 10 pages of 100 per transaction): the file's even rows, and as many other leads.
async fn fill_mirror(mirror: &pb2b_core::sync::Mirror, leads: u64) {
    use pb2b_core::sync::destination::PageBatch;
    use pb2b_core::sync::{Destination, SyncOptions, SyncOutcome};
    let cancel = CancellationToken::new();
    let _guard = mirror.lock(&cancel).await.unwrap();
    let started = pb2b_core::api::observer::now_utc_ms();
    mirror
        .plan_run(&SyncOptions::default(), &started)
        .await
        .unwrap();
    let base = 1_767_225_600_000i64; // 2026-01-01
    let mut i = 0u64;
    while i < leads {
        let mut pages = Vec::new();
        for _ in 0..10 {
            let page: Vec<_> = (i..(i + 100).min(leads))
                .map(|k| {
                    let at = pb2b_core::sync::format_timestamp(base + k as i64);
                    if k.is_multiple_of(2) {
                        // The file's row `k` (even rows only: half the file exists).
                        mirrored_lead(k, &at)
                    } else {
                        let mut l = mirrored_lead(k, &at);
                        l.email = format!("someone.else.{k}@example.org");
                        l
                    }
                })
                .collect();
            i += page.len() as u64;
            if !page.is_empty() {
                pages.push(page);
            }
        }
        let last_page = i >= leads;
        mirror
            .write_pages(PageBatch {
                pages,
                next_cursor: (!last_page).then(|| format!("c{i}")),
                last_page,
                crash_at: None,
                at: pb2b_core::api::observer::now_utc_ms(),
            })
            .await
            .unwrap();
    }
    mirror
        .record_end(
            SyncOutcome::Completed,
            None,
            &pb2b_core::api::observer::now_utc_ms(),
        )
        .await;
}

/// The review of a 1,000,000-row file against a 1,000,000-lead mirror (half the file's e-mails
/// are in it, half of those with a changed job title): `review_file` (the dry run) in each mode,
/// then a staged import's `review_import` in upsert mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/import/run.sh"]
async fn bench_review_1m_rows_against_1m_leads() {
    use import::review::{self, ImportMode, MirrorFreshness};
    let rows: u64 = std::env::var("PB2B_BENCH_REVIEW_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // PB2B_BENCH_REVIEW_KEEP=1: keep the file and the mirror for the next run of the same size
    // (and reuse them when found), so the review can be measured again without the minutes of
    // filling; the file is staged anew each run (the last run's import deleted first), so the
    // staged review is always an import's first.
    let keep = std::env::var_os("PB2B_BENCH_REVIEW_KEEP").is_some();
    let dir = bench_dir().join(format!("review-{rows}"));
    let path = dir.join("1m.csv");
    let staged_id = dir.join("import_id");
    let reuse = keep && staged_id.exists();
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        generate(&path, rows, u64::MAX);
    }
    let store = Store::open(&dir.join("db.sqlite")).unwrap();
    let ws = owner();
    let mirror = pb2b_core::sync::Mirror::open(store.clone(), &ws.workspace_id, "default").unwrap();
    let t = Instant::now();
    if !reuse {
        fill_mirror(&mirror, rows).await;
    }
    let fill_secs = t.elapsed().as_secs_f64();
    assert_eq!(mirror.count().unwrap(), rows);
    let fresh = MirrorFreshness {
        synced_at: None,
        leads: rows,
        synced_now: false,
    };
    let pv = import::preview(None, &path, None, 0).unwrap();
    let mut dry = serde_json::Map::new();
    for mode in [ImportMode::Create, ImportMode::Upsert, ImportMode::Update] {
        let t = Instant::now();
        let r = review::review_file(
            &store,
            &ws.workspace_id,
            &path,
            None,
            &pv.mapping,
            mode,
            fresh.clone(),
            &|_: &ReadProgress| {},
            &CancellationToken::new(),
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let c = r.counts;
        let half = rows / 2;
        match mode {
            ImportMode::Create => assert_eq!((c.create, c.skipped_exists), (half, half)),
            ImportMode::Upsert => assert_eq!(
                (c.create, c.update, c.unchanged),
                (half, half / 2, half - half / 2)
            ),
            ImportMode::Update => assert_eq!(
                (c.skipped_missing, c.update, c.unchanged),
                (half, half / 2, half - half / 2)
            ),
        }
        dry.insert(mode.as_str().to_owned(), serde_json::json!(secs));
    }
    if reuse {
        let last = std::fs::read_to_string(&staged_id).unwrap();
        store
            .with_conn(|c| {
                c.execute("DELETE FROM import_jobs WHERE id = ?1", [&last])?;
                c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            })
            .unwrap();
    }
    let t = Instant::now();
    let job = import::stage(
        &store,
        &ws,
        &path,
        &pv.mapping,
        &|_: &ReadProgress| {},
        &CancellationToken::new(),
    )
    .unwrap();
    if keep {
        std::fs::write(&staged_id, &job.id).unwrap();
    }
    let job_id = job.id;
    let stage_secs = t.elapsed().as_secs_f64();
    // CPU time and bytes written besides the wall time: the 2 shared cores make the wall time
    // swing with the other builds.
    let (cpu, written) = (cpu_seconds("/proc/self/stat"), written_bytes());
    let t = Instant::now();
    let r = review::review_import(
        &store,
        &ws.workspace_id,
        &job_id,
        ImportMode::Upsert,
        fresh,
        &CancellationToken::new(),
    )
    .unwrap();
    let staged_secs = t.elapsed().as_secs_f64();
    let staged_cpu = cpu_seconds("/proc/self/stat") - cpu;
    let staged_written = (written_bytes() - written) as f64 / (1024.0 * 1024.0);
    assert_eq!(r.counts.create + r.counts.update + r.counts.unchanged, rows);
    println!(
        "BENCH {}",
        serde_json::json!({
            "bench": "review_1m",
            "rows": rows,
            "mirror_leads": rows,
            "fill_mirror_seconds": fill_secs,
            "reused": reuse,
            "review_file_seconds": dry,
            "stage_seconds": stage_secs,
            "review_import_upsert_seconds": staged_secs,
            "review_import_upsert_cpu_seconds": staged_cpu,
            "review_import_upsert_written_mib": staged_written,
            "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
        })
    );
    drop(mirror);
    drop(store);
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
