//! Bulk delivery (import jobs, `POST /imports`) against the sandbox over HTTP: the same result
//! as the per-row path in modes create and upsert; the bulk path really used when the key has
//! `leads.import` and the per-row path without it (through the job layer, which reads the
//! scopes from `/me`); a failed job leaves its rows to resume; pause and resume; exactly-once
//! through injected 500s and answers dropped after commit, and through five SIGKILLs of the
//! importer process.
//!
//! The normal suite imports a few thousand rows in small batches (many jobs, so the faults hit
//! them); the 20,000-row run is `#[ignore]`d and run by `bench/import/run.sh`.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pb2b_core::api::{Client, NewLead};
use pb2b_core::import::{self, ImportMode, ImportProgress, Imports, ReadProgress, RunOptions};
use pb2b_core::jobs::{Job, JobOutcome};
use pb2b_core::profiles::Profile;
use pb2b_core::secret::SecretString;
use pb2b_core::store::Store;
use pb2b_core::sync::{self, Mirror, SyncOptions};
use pb2b_core::workspace::{Credentials, Owner, Workspace};
use pb2b_sandbox::{Sandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;

const WS: &str = "ws_sandbox";

fn owner() -> Owner {
    Owner {
        workspace_id: WS.into(),
        workspace_name: "Sandbox workspace".into(),
        key_prefix: "pb2b_test".into(),
    }
}

fn bulk(rows: usize) -> RunOptions {
    RunOptions {
        bulk: true,
        bulk_batch_rows: rows,
        ..RunOptions::default()
    }
}

/// `rows` rows `<tag>.<i>@example.com`; titles `New` on even rows, `Old` on odd ones; plus an
/// invalid row and a duplicate of row 0.
fn write_file(dir: &Path, rows: usize, tag: &str) -> PathBuf {
    let p = dir.join(format!("{tag}.csv"));
    let mut s = String::from("First Name,Last Name,Email,Company,Title\n");
    for i in 0..rows {
        let title = if i % 2 == 0 { "New" } else { "Old" };
        s.push_str(&format!(
            "First{i},Last{i},{tag}.{i}@example.com,\"Company {i}, Inc\",{title}\n"
        ));
    }
    s.push_str("Bad,Row,not-an-email,X,Y\n");
    s.push_str(&format!("Dup,Row,{tag}.0@example.com,X,Y\n"));
    std::fs::write(&p, s).unwrap();
    p
}

fn stage(store: &Store, path: &Path) -> String {
    let pv = import::preview(None, path, None, 0).unwrap();
    import::stage(
        store,
        &owner(),
        path,
        &pv.mapping,
        &|_: &ReadProgress| {},
        &CancellationToken::new(),
    )
    .unwrap()
    .id
}

async fn sync_mirror(c: &Client, m: &Mirror) {
    sync::sync(
        c,
        m,
        &SyncOptions::default(),
        &CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
}

/// What the server holds: e-mail → (job title, first name), and how many leads.
async fn server_state(c: &Client) -> (BTreeMap<String, (Option<String>, Option<String>)>, usize) {
    let leads = common::server_leads(c).await;
    let n = leads.len();
    (
        leads
            .into_iter()
            .map(|l| (l.email, (l.job_title, l.first_name)))
            .collect(),
        n,
    )
}

/// One import of the same file into a fresh sandbox that already has its first 200 leads as the
/// file has them but titled `Old` (so even rows update, odd ones are unchanged), reviewed in
/// `mode`, sent by the bulk path or row by row. Returns the counts, the
/// server's leads, and the request paths sent.
async fn import_once(
    mode: ImportMode,
    bulk_path: bool,
) -> (
    import::ImportSummary,
    BTreeMap<String, (Option<String>, Option<String>)>,
    Vec<String>,
) {
    let sb = common::sandbox_with(common::empty()).await;
    let (c, rec) = common::client(&sb, &sb.keys.full);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data.sqlite")).unwrap();
    let m = Mirror::open(store.clone(), WS, "default").unwrap();
    let imports = Imports::new(store.clone(), c.clone(), owner());
    let mut ids = Vec::new();
    for i in 0..200 {
        let lead = NewLead {
            email: format!("m.{i}@example.com"),
            full_name: Some(format!("First{i} Last{i}")),
            first_name: Some(format!("First{i}")),
            last_name: Some(format!("Last{i}")),
            company_name: Some(format!("Company {i}, Inc")),
            job_title: Some("Old".into()),
            ..Default::default()
        };
        ids.push(
            c.create_lead(&lead, &format!("seed-{i}"))
                .await
                .unwrap()
                .data
                .id,
        );
    }
    sync_mirror(&c, &m).await;
    let path = write_file(tmp.path(), 1200, "m");
    let id = stage(&store, &path);
    imports
        .review(&m, &id, mode, false, &CancellationToken::new())
        .unwrap();
    // Someone edits a lead after the review: the server's answer wins, and the row says so.
    common::edit(&sb, &ids[0], serde_json::json!({"job_title": "New"})).await;
    rec.clear();
    let opts = RunOptions {
        bulk: bulk_path,
        bulk_batch_rows: 250,
        ..RunOptions::default()
    };
    let s = imports
        .run(&id, &opts, &|_| {}, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(s.status, "completed", "{s:?}");
    let sent: Vec<String> = rec
        .all()
        .iter()
        .map(|e| format!("{} {}", e.method, e.path.split('?').next().unwrap_or("")))
        .collect();
    let (leads, n) = server_state(&c).await;
    assert_eq!(n, leads.len(), "no duplicate e-mail");
    // The result file carries the server's word where it disagrees with the review.
    if mode == ImportMode::Upsert {
        let ok = tmp.path().join("ok.csv");
        import::write_success_file(&store, &id, &ok).unwrap();
        let text = std::fs::read_to_string(&ok).unwrap();
        let row = text.lines().find(|l| l.starts_with("First0,")).unwrap();
        assert!(
            row.ends_with(",unchanged,the lead already held these values on the server (changed after the review)"),
            "{row}"
        );
    }
    sb.shutdown().await;
    (s, leads, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_equals_per_row_in_create_and_upsert_modes() {
    for mode in [ImportMode::Create, ImportMode::Upsert] {
        let (rows, rows_leads, rows_sent) = import_once(mode, false).await;
        let (jobs, jobs_leads, jobs_sent) = import_once(mode, true).await;
        let c = |s: &import::ImportSummary| {
            let c = s.counts;
            (
                c.total,
                c.created,
                c.updated,
                c.unchanged,
                c.failed,
                c.skipped,
            )
        };
        assert_eq!(c(&rows), c(&jobs), "{mode:?}: {rows:?} vs {jobs:?}");
        assert_eq!(
            rows_leads, jobs_leads,
            "{mode:?}: the same leads on the server"
        );
        match mode {
            // 1,000 new leads; the 200 existing ones, the invalid row and the duplicate skipped.
            ImportMode::Create => assert_eq!(c(&jobs), (1202, 1000, 0, 0, 0, 202)),
            // 1,000 created, 99 updated (even rows), 1 unchanged (edited after the review); the
            // 100 the review found unchanged, the invalid row and the duplicate not sent.
            _ => assert_eq!(c(&jobs), (1202, 1000, 99, 1, 0, 102)),
        }
        // The bulk path sent import jobs and not one lead on its own; the per-row path the
        // reverse.
        assert!(jobs_sent
            .iter()
            .any(|p| p.starts_with("POST ") && p.ends_with("/imports")));
        assert!(
            !jobs_sent.iter().any(|p| p.contains("/leads")),
            "{:?}",
            jobs_sent
                .iter()
                .filter(|p| p.contains("/leads"))
                .take(3)
                .collect::<Vec<_>>()
        );
        let posts = jobs_sent
            .iter()
            .filter(|p| p.starts_with("POST ") && p.ends_with("/imports"))
            .count();
        let to_send = if mode == ImportMode::Create { 4 } else { 5 };
        assert_eq!(posts, to_send, "1,000 or 1,100 rows to send in jobs of 250");
        assert!(!rows_sent.iter().any(|p| p.contains("/imports")));
        assert!(rows_sent.len() >= 1000);
    }
}

/// Through the job layer: the key's scopes from `/me` pick the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_scopes_pick_the_path() {
    let sb = common::sandbox_with(common::empty()).await;
    // A key that may write leads but not import them in bulk.
    common::admin(
        &sb,
        reqwest::Method::POST,
        "/keys/leads_read",
        serde_json::json!({"scopes": ["me.read", "leads.read", "leads.write"]}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data.sqlite")).unwrap();
    for (key, tag, bulk_expected) in [
        (sb.keys.leads_read.clone(), "s", false),
        (sb.keys.full.clone(), "f", true),
    ] {
        let (c, rec) = common::client(&sb, &key);
        let check = pb2b_core::session::verify(&c, &SecretString::new(key.clone()))
            .await
            .unwrap();
        let ws = Workspace::verified(
            store.clone(),
            Credentials {
                profile: Profile {
                    name: format!("scopes-{tag}"),
                    base_url: sb.base_url.clone(),
                    key_hint: "…".into(),
                    sandbox: true,
                },
                key: SecretString::new(key.clone()),
            },
            c.clone(),
            check,
        );
        let path = write_file(tmp.path(), 300, tag);
        let pv = import::preview(None, &path, None, 0).unwrap();
        let job = ws
            .imports()
            .stage(
                &path,
                &pv.mapping,
                &|_: &ReadProgress| {},
                &CancellationToken::new(),
            )
            .unwrap();
        // Reviewed first (the core sends no import that was never reviewed): nothing exists.
        let mirror = ws.mirror().unwrap();
        let review = ws
            .imports()
            .review(
                &mirror,
                &job.id,
                ImportMode::Create,
                false,
                &CancellationToken::new(),
            )
            .unwrap();
        assert_eq!(review.counts.create, 300);
        rec.clear();
        let out = ws
            .run_job(
                &Job::Import {
                    id: job.id.clone(),
                    options: RunOptions::default(),
                },
                &CancellationToken::new(),
                &|_| {},
            )
            .await
            .unwrap();
        let JobOutcome::Import(s) = out else {
            panic!("{out:?}")
        };
        assert_eq!((s.status.as_str(), s.counts.created), ("completed", 300));
        let sent = rec.all();
        let imports = sent.iter().filter(|e| e.path.ends_with("/imports")).count();
        let leads = sent
            .iter()
            .filter(|e| e.method == "POST" && e.path.ends_with("/leads"))
            .count();
        if bulk_expected {
            assert_eq!((imports, leads), (1, 0), "one job of 300 rows");
        } else {
            assert_eq!((imports, leads), (0, 300), "row by row");
        }
    }
    let (c, _) = common::client(&sb, &sb.keys.full);
    assert_eq!(common::server_leads(&c).await.len(), 600);
    sb.shutdown().await;
}

/// Runs the import with one attempt through a client whose every answer the sandbox drops after
/// committing: the first job is sent and created, its answer lost, and the run stops with it
/// journaled in flight (`open`).
async fn lose_the_answer(sb: &Sandbox, store: &Store, import_id: &str) {
    let mut cfg = common::config(&sb.base_url);
    cfg.retry = pb2b_core::api::RetryPolicy::none();
    cfg.extra_headers = vec![("X-Sandbox-Fault".into(), "drop-after-commit".into())];
    let (dropping, _) = common::client_with(cfg, &sb.keys.full);
    let opts = RunOptions {
        max_attempts: 1,
        ..bulk(1000)
    };
    let e = import::run(
        &dropping,
        store,
        import_id,
        &opts,
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code.as_str(), "connection_lost", "{e:?}");
}

async fn assert_exactly_once(sb: &Sandbox, store: &Store, import_id: &str, rows: usize, tag: &str) {
    let (c, _) = common::client(sb, &sb.keys.full);
    let leads = common::server_leads(&c).await;
    let emails: HashSet<&str> = leads.iter().map(|l| l.email.as_str()).collect();
    assert_eq!(leads.len(), rows, "exactly one lead per valid row");
    assert_eq!(emails.len(), rows, "no duplicate e-mail");
    for i in 0..rows {
        assert!(
            emails.contains(format!("{tag}.{i}@example.com").as_str()),
            "row {i} lost"
        );
    }
    let job = import::get_import(store, import_id).unwrap();
    assert_eq!(job.status, "completed");
    assert_eq!(job.counts.created as usize, rows);
    assert_eq!(
        (job.counts.failed, job.counts.pending, job.counts.in_flight),
        (0, 0, 0)
    );
    // The journal's lead ids are exactly the sandbox's leads.
    let ids: HashSet<String> = leads.into_iter().map(|l| l.id).collect();
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.csv");
    assert_eq!(
        import::write_success_file(store, import_id, &ok).unwrap() as usize,
        rows
    );
    let bytes = std::fs::read(&ok).unwrap();
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "lead_id")
        .unwrap();
    let journaled: HashSet<String> = r.records().map(|x| x.unwrap()[col].to_owned()).collect();
    assert_eq!(journaled, ids);
}

async fn faulty_bulk_import(rows: usize, batch: usize) {
    let sb = common::sandbox_with(SandboxConfig {
        seed_demo: false,
        fault_500: 0.10,
        fault_drop_after_commit: 0.05,
        fault_429_burst: 0.004,
        fault_429_burst_len: 3,
        fault_seed: 7,
        ..SandboxConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("b{rows}");
    let path = write_file(tmp.path(), rows, &tag);
    let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let id = stage(&store, &path);
    let (c, rec) = common::client(&sb, &sb.keys.full);
    let seen: Arc<Mutex<Vec<ImportProgress>>> = Arc::default();
    let seen2 = seen.clone();
    let s = import::run(
        &c,
        &store,
        &id,
        &bulk(batch),
        &move |p: &ImportProgress| seen2.lock().unwrap().push(p.clone()),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(s.status, "completed", "{s:?}");
    assert_eq!(s.counts.created as usize, rows);
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.counts.created as usize, rows);
    assert_eq!(last.eta_seconds, Some(0.0));
    let sent = rec.all();
    // The faults did hit the jobs: 500s answered, answers dropped after the job was committed
    // and replayed with the same key.
    assert!(
        sent.iter().any(|e| e.status == Some(500)),
        "no 500 was injected"
    );
    assert!(
        sent.iter()
            .any(|e| e.path.ends_with("/imports")
                && e.error_code.as_deref() == Some("connection_lost")),
        "no answer to POST /imports was dropped"
    );
    assert!(s.replayed > 0, "{s:?}");
    assert!(!sent.iter().any(|e| e.path.ends_with("/leads")));
    assert_exactly_once(&sb, &store, &id, rows, &tag).await;
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_in_bulk_through_500s_drops_and_429_bursts() {
    faulty_bulk_import(3000, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "20,000 rows in jobs of 1,000: run by bench/import/run.sh"]
async fn exactly_once_in_bulk_20k_rows() {
    faulty_bulk_import(20_000, 1000).await;
}

/// A job the server fails leaves its rows pending (not failed): the run ends paused, and the
/// resume sends them in a new job. Pausing finishes the jobs in flight first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_resumed_and_a_pause_records_the_jobs_in_flight() {
    let sb = common::sandbox_with(SandboxConfig {
        seed_demo: false,
        latency_ms: 5,
        ..SandboxConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let path = write_file(tmp.path(), 400, "j");
    let id = stage(&store, &path);
    let (failing, _) = common::faulty_client(&sb, &sb.keys.full, "import-fail");
    let s = import::run(
        &failing,
        &store,
        &id,
        &bulk(100),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(s.status, "paused");
    assert_eq!(
        (s.counts.pending, s.counts.failed, s.counts.created),
        (400, 0, 0)
    );
    // Pause after the first progress report with rows created.
    let (c, _) = common::client(&sb, &sb.keys.full);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let opts = RunOptions {
        progress_interval: Duration::from_millis(5),
        ..bulk(20)
    };
    let paused = import::run(
        &c,
        &store,
        &id,
        &opts,
        &move |p: &ImportProgress| {
            if p.counts.created > 0 {
                trigger.cancel();
            }
        },
        &cancel,
    )
    .await
    .unwrap();
    assert_eq!(paused.status, "paused");
    assert!(paused.counts.created < 400, "{paused:?}");
    assert_eq!(
        paused.counts.in_flight, 0,
        "the jobs in flight were recorded"
    );
    assert_eq!(paused.counts.created % 20, 0, "whole jobs only");
    let done = import::run(
        &c,
        &store,
        &id,
        &bulk(100),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(done.status, "completed");
    assert_exactly_once(&sb, &store, &id, 400, "j").await;
    sb.shutdown().await;
}

// ----- SIGKILL at random points -----

const CHILD_ENV: &str = "PB2B_BULK_CHILD";

/// Not a test of its own: the importer process that `bulk_killed_five_times_and_resumed`
/// starts and kills. It resumes the import named in the environment until done.
#[test]
#[ignore = "helper process for bulk_killed_five_times_and_resumed"]
fn bulk_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let v: Vec<&str> = spec.splitn(4, '|').collect();
    let (db, base_url, key, id) = (v[0], v[1], v[2], v[3]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open(Path::new(db)).unwrap();
        let (c, _) = common::client_with(common::config(base_url), key);
        import::run(
            &c,
            &store,
            id,
            &bulk(25),
            &|_| {},
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    });
}

async fn sandbox_leads(sb: &Sandbox) -> u64 {
    let v = common::admin(sb, reqwest::Method::GET, "/state", serde_json::json!({})).await;
    v["data"]["leads"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_killed_five_times_and_resumed() {
    let sb = common::sandbox_with(SandboxConfig {
        seed_demo: false,
        latency_ms: 20,
        fault_500: 0.05,
        fault_drop_after_commit: 0.05,
        fault_seed: 11,
        ..SandboxConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let rows = 3000;
    let path = write_file(dir.path(), rows, "k");
    let db = dir.path().join("db.sqlite");
    let id = {
        let store = Store::open(&db).unwrap();
        stage(&store, &path)
    };
    let exe = std::env::current_exe().unwrap();
    let spec = format!("{}|{}|{}|{id}", db.display(), sb.base_url, sb.keys.full);
    let child = || {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "--exact",
            "bulk_child_process",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        cmd
    };
    let mut kills = 0;
    let mut rng = fastrand::Rng::with_seed(5);
    while kills < 5 {
        let mut proc = child().spawn().unwrap();
        // A random point after this process has made progress (so a slow machine still
        // interrupts real work five times).
        let before = sandbox_leads(&sb).await;
        for _ in 0..400 {
            if sandbox_leads(&sb).await > before || proc.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(0..150))).await;
        if proc.try_wait().unwrap().is_some() {
            break; // finished before the kill: nothing left to interrupt
        }
        proc.kill().unwrap(); // SIGKILL
        proc.wait().unwrap();
        kills += 1;
    }
    let store = Store::open(&db).unwrap();
    let before = import::get_import(&store, &id).unwrap();
    eprintln!("{kills} kills; before the last run: {:?}", before.counts);
    assert!(
        kills >= 3,
        "the run was interrupted ({kills} kills, {before:?})"
    );
    // Resume in a last process and let it finish.
    let status = child().status().unwrap();
    assert!(status.success());
    assert_exactly_once(&sb, &store, &id, rows, "k").await;
    sb.shutdown().await;
}

/// A rotated key (another key of the same workspace) resumes an import whose process died with
/// a job in flight. A job the server accepted (its id journaled) is polled and read under the
/// new key, never sent again; a job sent without an answer (its rows may be on the server,
/// and the old key's Idempotency-Key means nothing under the new one) is settled by looking the
/// rows up by e-mail. Either way: no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_resumes_bulk_jobs_without_duplicates() {
    let sb = common::sandbox_with(SandboxConfig {
        seed_demo: false,
        latency_ms: 50,
        ..SandboxConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let rotated = Owner {
        key_prefix: "pb2b_test_rotated".into(),
        ..owner()
    };
    let batch_state = |id: &str| -> Option<String> {
        store
            .with_conn(|c| {
                c.query_row(
                    "SELECT state FROM import_batches WHERE import_id = ?1 ORDER BY seq DESC LIMIT 1",
                    [id],
                    |r| r.get(0),
                )
            })
            .ok()
    };

    // The process dies while it polls an accepted job.
    let a = stage(&store, &write_file(tmp.path(), 300, "ra"));
    let (c, _) = common::client(&sb, &sb.keys.full);
    let (opts, never) = (bulk(1000), CancellationToken::new());
    tokio::select! {
        r = import::run(&c, &store, &a, &opts, &|_| {}, &never) => {
            panic!("ended before its job was accepted: {r:?}")
        }
        _ = async {
            while batch_state(&a).as_deref() != Some("accepted") {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        } => {}
    }
    assert_eq!(
        import::get_import(&store, &a).unwrap().counts.in_flight,
        300
    );
    let (c2, rec2) = common::client(&sb, &sb.keys.full_2);
    let imports = Imports::new(store.clone(), c2.clone(), rotated.clone());
    let s = imports
        .run(&a, &bulk(1000), &|_| {}, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((s.status.as_str(), s.counts.created), ("completed", 300));
    let sent = rec2.all();
    assert!(
        !sent
            .iter()
            .any(|e| e.method == "POST" && e.path.ends_with("/imports")),
        "the accepted job was not sent again"
    );
    assert!(sent.iter().any(|e| e.path.contains("/imports/imp_")));
    assert_eq!(common::server_leads(&c2).await.len(), 300);

    // The job is sent, the answer lost, and the process stops.
    let b = stage(&store, &write_file(tmp.path(), 300, "rb"));
    lose_the_answer(&sb, &store, &b).await;
    assert_eq!(batch_state(&b).as_deref(), Some("open"));
    assert_eq!(
        import::get_import(&store, &b).unwrap().counts.in_flight,
        300
    );
    // A restart takes a while; the server has processed the job by then.
    for _ in 0..500 {
        if common::server_leads(&c2).await.len() == 600 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rec2.clear();
    let s = imports
        .run(&b, &bulk(1000), &|_| {}, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((s.status.as_str(), s.counts.created), ("completed", 300));
    assert!(
        !rec2
            .all()
            .iter()
            .any(|e| e.method == "POST" && e.path.ends_with("/imports")),
        "the rows found on the server were not sent again"
    );
    assert_eq!(batch_state(&b).as_deref(), Some("void"));
    assert_eq!(common::server_leads(&c2).await.len(), 600, "no duplicate");
    sb.shutdown().await;
}

/// A bulk job in flight owns the `pending` rows of its range (the rows are not written when it
/// is claimed): the counts say they are in flight, "Retry failed rows" leaves a failed row of
/// that range alone, and a range that gained a pending row anyway is refused rather than sent
/// under the job's key with another body. Put right, the job is replayed: no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_in_flight_owns_its_range() {
    let sb = common::sandbox_with(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let id = stage(&store, &write_file(tmp.path(), 200, "own"));
    let set_state = |row: i64, state: &str| {
        store
            .with_conn(|c| {
                c.execute(
                    "UPDATE import_rows SET state = ?3, error_code = 'x', error_message = 'x'
                     WHERE import_id = ?1 AND row_number = ?2",
                    rusqlite::params![id, row, state],
                )
            })
            .unwrap();
    };
    let sixth: i64 = store
        .with_conn(|c| {
            c.query_row(
                "SELECT row_number FROM import_rows WHERE import_id = ?1 ORDER BY row_number LIMIT 1 OFFSET 5",
                [&id],
                |r| r.get(0),
            )
        })
        .unwrap();
    // A row failed earlier: the job's range spans it.
    set_state(sixth, "failed");

    // The job is sent, its answer lost, and the run stops: the job stays in flight.
    lose_the_answer(&sb, &store, &id).await;
    let counts = import::get_import(&store, &id).unwrap().counts;
    assert_eq!(
        (counts.in_flight, counts.pending, counts.failed),
        (199, 0, 1)
    );

    // Retrying failed rows passes over the range in flight.
    let counts = import::retry_failed(&store, &id).unwrap().counts;
    assert_eq!(
        (counts.in_flight, counts.pending, counts.failed),
        (199, 0, 1)
    );

    // Made pending behind the journal's back, the row would join the job: refused.
    set_state(sixth, "pending");
    let (c, rec) = common::client(&sb, &sb.keys.full);
    let e = import::run(
        &c,
        &store,
        &id,
        &bulk(1000),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code.as_str(), "store_error", "{e:?}");
    assert!(e.message.contains("no longer matches"), "{}", e.message);
    assert!(rec.all().is_empty(), "nothing was sent: {:?}", rec.all());

    // Put right, the job is replayed under its key: the server's job, not a second one.
    set_state(sixth, "failed");
    let s = import::run(
        &c,
        &store,
        &id,
        &bulk(1000),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            s.status.as_str(),
            s.counts.created,
            s.counts.failed,
            s.counts.in_flight
        ),
        ("completed", 199, 1, 0)
    );
    assert_eq!(s.replayed, 199, "{s:?}");
    assert_eq!(common::server_leads(&c).await.len(), 199, "no duplicate");
    // The failed row goes once the job is over.
    let counts = import::retry_failed(&store, &id).unwrap().counts;
    assert_eq!((counts.pending, counts.failed), (1, 0));
    sb.shutdown().await;
}

/// A journal written by the version that marked a bulk job's rows `in_flight` (`batch = seq`)
/// is carried over by the migration that stopped doing so: the job's rows become `pending` in
/// its range, and the job is replayed under its key, with no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_journaled_in_flight_by_the_old_version_is_replayed() {
    let sb = common::sandbox_with(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let id = stage(&store, &write_file(tmp.path(), 150, "old"));
    lose_the_answer(&sb, &store, &id).await;
    // Back to the old version's journal: the rows in flight, the full state index.
    let last = *import::journal::MIGRATIONS.last().unwrap();
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE import_rows SET state = 'in_flight', batch = (SELECT seq FROM import_batches b
                   WHERE b.import_id = import_rows.import_id AND b.state = 'open')
                 WHERE import_id = ?1 AND state = 'pending'",
                [&id],
            )?;
            c.execute_batch(
                "DROP INDEX import_rows_unsettled;
                 CREATE INDEX import_rows_state ON import_rows(import_id, state, row_number);",
            )?;
            // What the migration does on the first start of the new version.
            c.execute_batch(last)
        })
        .unwrap();
    let counts = import::get_import(&store, &id).unwrap().counts;
    assert_eq!((counts.in_flight, counts.pending), (150, 0));
    let (c, rec) = common::client(&sb, &sb.keys.full);
    let s = import::run(
        &c,
        &store,
        &id,
        &bulk(1000),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((s.status.as_str(), s.counts.created), ("completed", 150));
    assert_eq!(s.replayed, 150, "{s:?}");
    assert!(
        rec.all()
            .iter()
            .all(|e| !(e.method == "POST" && e.path.ends_with("/leads"))),
        "sent as a job, not row by row"
    );
    assert_eq!(common::server_leads(&c).await.len(), 150, "no duplicate");
    sb.shutdown().await;
}
