//! Exports against the in-process sandbox over real HTTP: polling to completion, the file's
//! content, restarts without a second export, expired links, failed exports, Retry-After.

mod common;

use pb2b_core::error::Code;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{client, client_with, config, faulty_client, is_request_id, sandbox_with, Recorder};
use pb2b_core::api::{ListLeadsQuery, RetryPolicy};
use pb2b_core::exports::{
    error_codes, ExportEvent, ExportJob, ExportRequest, ExportStatus, Exports, PollOptions,
    PollSchedule, PollingState,
};
use pb2b_core::store::Store;
use pb2b_sandbox::SandboxConfig;
use tokio_util::sync::CancellationToken;

/// A quick schedule for tests (the cap is what the assertions check, never the clock).
fn fast() -> PollOptions {
    PollOptions {
        schedule: PollSchedule {
            initial: Duration::from_millis(50),
            factor: 1.5,
            max: Duration::from_millis(300),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(5),
        },
        max_transient_errors: 20,
        download_attempts: 4,
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<ExportEvent>>);

impl Events {
    fn push(&self, e: ExportEvent) {
        self.0.lock().unwrap().push(e);
    }
    fn all(&self) -> Vec<ExportEvent> {
        self.0.lock().unwrap().clone()
    }
}

fn request(dir: &std::path::Path, fields: &[&str]) -> ExportRequest {
    ExportRequest {
        updated_after: None,
        fields: Some(fields.iter().map(|f| f.to_string()).collect()),
        dest_dir: dir.to_string_lossy().into_owned(),
        auto_download: true,
    }
}

/// RFC 4180 records (quoted fields may hold commas, quotes and line breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

async fn server_export_count(sb: &pb2b_sandbox::Sandbox) -> u64 {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/state", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["exports"].as_u64().unwrap()
}

fn download_probes(rec: &Recorder) -> usize {
    rec.all()
        .iter()
        .filter(|e| e.method == "GET" && e.path.ends_with("/download"))
        .count()
}

#[tokio::test]
async fn delayed_export_is_polled_to_completion_and_holds_exactly_the_workspace_leads() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 800,
        ..SandboxConfig::default()
    })
    .await;
    let (c, rec) = client(&sb, &sb.keys.full);
    let dir = tempfile::tempdir().unwrap();
    let exports = Exports::open(Store::open_in_memory().unwrap(), owner(), "p").unwrap();
    let events = Arc::new(Events::default());
    let ev = events.clone();
    let on = move |e: ExportEvent| ev.push(e);
    let job = exports
        .start(&c, &request(dir.path(), &["id", "email", "full_name"]), &on)
        .await
        .unwrap();
    assert_eq!(job.status, ExportStatus::Queued);
    let export_id = job.export_id.clone().unwrap();
    let done = exports
        .run(&c, &job.job_id, &fast(), &CancellationToken::new(), &on)
        .await
        .unwrap();
    assert_eq!(done.status, ExportStatus::Completed);
    assert_eq!(done.polling, PollingState::Done);
    assert!(
        done.probe_count >= 2,
        "a delayed export needs more than one probe"
    );
    assert!(done.request_ids.iter().all(|r| is_request_id(r)));
    assert!(done.request_ids.len() >= 2);

    // The file: under the server's name, in the chosen folder, no temp file left behind.
    let path = std::path::PathBuf::from(done.local_path.clone().unwrap());
    assert_eq!(path.parent().unwrap(), dir.path());
    assert_eq!(
        path.file_name().unwrap().to_string_lossy(),
        done.file_name.clone().unwrap()
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len() as i64, done.byte_size.unwrap());
    let rows = parse_csv(&text);
    assert_eq!(rows[0], vec!["id", "email", "full_name"]);
    let from_file: BTreeSet<(String, String)> = rows[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(rows.len() - 1, from_file.len(), "no duplicate rows");
    assert_eq!(done.row_count.unwrap() as usize, from_file.len());

    // Exactly the workspace's leads, as GET /leads lists them.
    let mut from_api = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = c
            .list_leads(&ListLeadsQuery {
                limit: Some(100),
                cursor: cursor.take(),
                ..Default::default()
            })
            .await
            .unwrap();
        from_api.extend(page.data.into_iter().map(|l| (l.id, l.email)));
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    assert!(!from_api.is_empty());
    assert_eq!(from_file, from_api);

    // Probes: each one the observer saw was reported, and the job counts them all.
    let probed = events
        .all()
        .iter()
        .filter(|e| matches!(e, ExportEvent::Probed { .. }))
        .count();
    assert_eq!(download_probes(&rec), probed);
    assert_eq!(done.probe_count as usize, probed);
    let last = events.all().into_iter().rev().find_map(|e| match e {
        ExportEvent::Downloading { bytes, total, .. } => Some((bytes, total)),
        _ => None,
    });
    assert_eq!(last, Some((text.len() as u64, Some(text.len() as u64))));
    assert_eq!(
        exports.get(&export_id).unwrap().job_id,
        job.job_id,
        "found by export id too"
    );
    assert_eq!(server_export_count(&sb).await, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_replayed_not_duplicated() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 100,
        ..SandboxConfig::default()
    })
    .await;
    let (c, _rec) = client(&sb, &sb.keys.full);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pb2b.sqlite");
    let out = dir.path().join("out");
    let first = Exports::open(Store::open(&db).unwrap(), owner(), "p").unwrap();
    let job = first.prepare(&request(&out, &["id", "email"])).unwrap();
    // The process that prepared the job sent the request and died before saving the answer.
    let req = pb2b_core::api::NewExport {
        format: Some("csv".into()),
        filters: None,
        fields: job.fields.clone(),
    };
    let lost = c.create_export(&req, &job.idempotency_key).await.unwrap();
    drop(first);

    // The next start resumes the job with the saved key: the server replays the first answer.
    let again = Exports::open(Store::open(&db).unwrap(), owner(), "p").unwrap();
    assert_eq!(again.pending().unwrap().len(), 1);
    let results = again
        .resume_all(
            &c,
            &fast(),
            &CancellationToken::new(),
            &pb2b_core::exports::ignore_events,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    let done = results[0].1.clone().unwrap();
    assert_eq!(done.export_id.as_deref(), Some(lost.data.id.as_str()));
    assert_eq!(done.status, ExportStatus::Completed);
    assert!(std::path::Path::new(done.local_path.as_deref().unwrap()).is_file());
    assert_eq!(server_export_count(&sb).await, 1);
    assert!(again.pending().unwrap().is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn cancelled_polling_resumes_where_it_stopped_after_a_restart() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 1500,
        ..SandboxConfig::default()
    })
    .await;
    let (c, _rec) = client(&sb, &sb.keys.full);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pb2b.sqlite");
    let out = dir.path().join("out");
    let exports = Exports::open(Store::open(&db).unwrap(), owner(), "p").unwrap();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let on = move |e: ExportEvent| {
        if let ExportEvent::Probed { probe: 2, .. } = e {
            stop.cancel();
        }
    };
    let job = exports
        .start(&c, &request(&out, &["id"]), &on)
        .await
        .unwrap();
    let err = exports
        .run(&c, &job.job_id, &fast(), &cancel, &on)
        .await
        .unwrap_err();
    assert_eq!(err.code, error_codes::CANCELLED);
    let saved = exports.get(&job.job_id).unwrap();
    assert_eq!(saved.polling, PollingState::Active);
    assert_eq!(saved.probe_count, 2);
    assert!(!saved.status.is_terminal());
    drop(exports);

    let restarted = Exports::open(Store::open(&db).unwrap(), owner(), "p").unwrap();
    let probes = Arc::new(Mutex::new(Vec::new()));
    let p2 = probes.clone();
    let on2 = move |e: ExportEvent| {
        if let ExportEvent::Probed { probe, .. } = e {
            p2.lock().unwrap().push(probe);
        }
    };
    let results = restarted
        .resume_all(&c, &fast(), &CancellationToken::new(), &on2)
        .await
        .unwrap();
    let done = results[0].1.clone().unwrap();
    assert_eq!(done.job_id, job.job_id);
    assert_eq!(done.status, ExportStatus::Completed);
    assert!(done.local_path.is_some());
    // The probe count continued (3, 4, ...) rather than starting again at 1.
    assert_eq!(probes.lock().unwrap().first(), Some(&3));
    assert_eq!(server_export_count(&sb).await, 1);

    // "Cancel polling" is remembered: a stopped job is not resumed.
    let other = restarted
        .start(
            &c,
            &request(&out, &["id"]),
            &pb2b_core::exports::ignore_events,
        )
        .await
        .unwrap();
    restarted.stop_polling(&other.job_id).unwrap();
    assert!(restarted.pending().unwrap().is_empty());
    restarted.remove(&other.job_id).unwrap();
    assert!(restarted.find(&other.job_id).unwrap().is_none());
    sb.shutdown().await;
}

#[tokio::test]
async fn an_expired_download_link_is_reprobed_and_the_download_succeeds() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 50,
        export_url_ttl: Duration::from_secs(2),
        ..SandboxConfig::default()
    })
    .await;
    let (c, rec) = client(&sb, &sb.keys.full);
    let dir = tempfile::tempdir().unwrap();
    let exports = Exports::open(Store::open_in_memory().unwrap(), owner(), "p").unwrap();
    let ignore = pb2b_core::exports::ignore_events;
    let job = exports
        .start(&c, &request(dir.path(), &["id", "email"]), &ignore)
        .await
        .unwrap();
    let (ready, probe) = exports
        .wait_ready(&c, &job.job_id, &fast(), &CancellationToken::new(), &ignore)
        .await
        .unwrap();
    let probe = probe.unwrap();
    assert!(probe.download_ready);
    // Let the signed link's lifetime (at most 2 s in this sandbox) run out.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let events = Arc::new(Events::default());
    let ev = events.clone();
    let on = move |e: ExportEvent| ev.push(e);
    rec.clear();
    let done = exports
        .download_with(
            &c,
            &ready.job_id,
            Some(probe),
            &fast(),
            &CancellationToken::new(),
            &on,
        )
        .await
        .unwrap();
    let files: Vec<_> = rec
        .all()
        .into_iter()
        .filter(|e| e.path.starts_with("/files/exports/"))
        .collect();
    assert_eq!(files[0].status, Some(403));
    assert_eq!(files[0].error_code.as_deref(), Some("download_url_expired"));
    assert_eq!(files.last().unwrap().status, Some(200));
    assert!(download_probes(&rec) >= 1, "a fresh link was asked for");
    assert!(events.all().iter().any(|e| matches!(
        e,
        ExportEvent::LinkRefreshed { reason, .. } if reason.code == Code::DownloadUrlExpired
    )));
    let text = std::fs::read_to_string(done.local_path.as_deref().unwrap()).unwrap();
    assert_eq!(
        parse_csv(&text).len() as i64 - 1,
        done.row_count.unwrap(),
        "the whole file"
    );
    assert_eq!(done.error, None);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_failed_export_is_reported_with_its_request_id() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 200,
        ..SandboxConfig::default()
    })
    .await;
    let (c, _rec) = faulty_client(&sb, &sb.keys.full, "export-fail");
    let dir = tempfile::tempdir().unwrap();
    let exports = Exports::open(Store::open_in_memory().unwrap(), owner(), "p").unwrap();
    let ignore = pb2b_core::exports::ignore_events;
    let job = exports
        .start(&c, &request(dir.path(), &["id"]), &ignore)
        .await
        .unwrap();
    let err = exports
        .run(&c, &job.job_id, &fast(), &CancellationToken::new(), &ignore)
        .await
        .unwrap_err();
    assert_eq!(err.code, error_codes::EXPORT_FAILED);
    assert!(!err.retryable);
    let rid = err.request_id.clone().unwrap();
    assert!(is_request_id(&rid), "{rid}");
    assert!(err.message.contains("injected fault"), "{}", err.message);
    let saved: ExportJob = exports.get(&job.job_id).unwrap();
    assert_eq!(saved.status, ExportStatus::Failed);
    assert_eq!(saved.polling, PollingState::Done);
    assert_eq!(saved.error.as_ref(), Some(&err));
    assert!(saved.request_ids.contains(&rid));
    assert!(saved.local_path.is_none());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn polling_honours_retry_after_and_stays_within_its_cap() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 1500,
        fault_429_burst: 0.35,
        fault_429_burst_len: 1,
        fault_seed: 7,
        ..SandboxConfig::default()
    })
    .await;
    // Creating retries by itself (Retry-After honoured); the poller's client does not, so every
    // 429 reaches the poller.
    let (creator, _) = client(&sb, &sb.keys.full);
    let mut cfg = config(&sb.base_url);
    cfg.retry = RetryPolicy::none();
    let (poller, rec) = client_with(cfg, &sb.keys.full);
    let dir = tempfile::tempdir().unwrap();
    let exports = Exports::open(Store::open_in_memory().unwrap(), owner(), "p").unwrap();
    let mut req = request(dir.path(), &["id"]);
    req.auto_download = false;
    let job = exports
        .start(&creator, &req, &pb2b_core::exports::ignore_events)
        .await
        .unwrap();
    let events = Arc::new(Events::default());
    let ev = events.clone();
    let on = move |e: ExportEvent| ev.push(e);
    let opts = fast();
    let done = exports
        .wait(&poller, &job.job_id, &opts, &CancellationToken::new(), &on)
        .await
        .unwrap();
    assert_eq!(done.status, ExportStatus::Completed);
    assert_eq!(done.polling, PollingState::Done, "no auto-download: done");
    assert!(done.local_path.is_none());

    let all = events.all();
    let probes = download_probes(&rec);
    let limited = rec
        .all()
        .iter()
        .filter(|e| e.path.ends_with("/download") && e.status == Some(429))
        .count();
    assert!(limited >= 1, "the seeded bursts hit some probes");
    assert_eq!(done.probe_count as usize, probes, "every probe counted");
    // After each probe: a wait, except after the last (terminal) one.
    let mut waits_after_429 = 0;
    let mut last_probe_was_429 = false;
    for e in &all {
        match e {
            ExportEvent::Probed { error, .. } => {
                last_probe_was_429 = error.as_ref().is_some_and(|e| e.code == Code::RateLimited);
            }
            ExportEvent::Waiting {
                delay_ms,
                retry_after,
                ..
            } => {
                if last_probe_was_429 {
                    waits_after_429 += 1;
                    assert!(*retry_after);
                    assert!(*delay_ms >= 1000, "Retry-After: 1 honoured, not {delay_ms}");
                } else {
                    assert!(!*retry_after);
                    assert!(
                        *delay_ms <= opts.schedule.max.as_millis() as u64,
                        "{delay_ms} above the cap"
                    );
                }
            }
            _ => {}
        }
    }
    assert_eq!(waits_after_429, limited);
    let waits = all
        .iter()
        .filter(|e| matches!(e, ExportEvent::Waiting { .. }))
        .count();
    assert_eq!(waits + 1, probes);
    sb.shutdown().await;
}

#[tokio::test]
async fn an_existing_different_file_is_never_overwritten() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 50,
        ..SandboxConfig::default()
    })
    .await;
    let (c, _) = client(&sb, &sb.keys.full);
    let dir = tempfile::tempdir().unwrap();
    let exports = Exports::open(Store::open_in_memory().unwrap(), owner(), "p").unwrap();
    let ignore = pb2b_core::exports::ignore_events;
    let job = exports
        .start(&c, &request(dir.path(), &["id"]), &ignore)
        .await
        .unwrap();
    let name = format!("leads-{}.csv", job.export_id.clone().unwrap());
    std::fs::write(dir.path().join(&name), "mine\n").unwrap();
    let done = exports
        .run(&c, &job.job_id, &fast(), &CancellationToken::new(), &ignore)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(&name)).unwrap(),
        "mine\n"
    );
    let path = done.local_path.clone().unwrap();
    assert!(path.ends_with(&name.replace(".csv", " (1).csv")), "{path}");
    // Downloading again finds the identical file and keeps it (no third copy).
    let again = exports
        .download(&c, &job.job_id, &fast(), &CancellationToken::new(), &ignore)
        .await
        .unwrap();
    assert_eq!(again.local_path, done.local_path);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    // Unknown ids and a not-yet-created job are clear errors, not panics.
    assert_eq!(
        exports.get("exp_nope").unwrap_err().code,
        error_codes::JOB_NOT_FOUND
    );
    sb.shutdown().await;
}

/// The workspace these jobs belong to (the in-process sandbox's).
fn owner() -> pb2b_core::workspace::Owner {
    pb2b_core::workspace::Owner {
        workspace_id: "ws_sandbox".into(),
        workspace_name: "Sandbox workspace".into(),
        key_prefix: "pb2b_test_tests".into(),
    }
}

/// A TCP listener on another loopback port that records whether anything connected to it (a
/// real socket, not a server: it answers nothing).
struct Tripwire {
    port: u16,
    contacted: Arc<std::sync::atomic::AtomicBool>,
}

impl Tripwire {
    async fn start() -> Tripwire {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let contacted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = contacted.clone();
        tokio::spawn(async move {
            while let Ok((_socket, _)) = listener.accept().await {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Tripwire { port, contacted }
    }
    fn contacted(&self) -> bool {
        self.contacted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_download_link_off_the_apis_host_is_refused_before_anything_is_sent() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 50,
        ..SandboxConfig::default()
    })
    .await;
    let (c, rec) = client(&sb, &sb.keys.full);
    let dir = tempfile::tempdir().unwrap();
    let exports = Exports::open(Store::open_in_memory().unwrap(), owner(), "p").unwrap();
    let ignore = pb2b_core::exports::ignore_events;
    let job = exports
        .start(&c, &request(dir.path(), &["id", "email"]), &ignore)
        .await
        .unwrap();
    let (ready, probe) = exports
        .wait_ready(&c, &job.job_id, &fast(), &CancellationToken::new(), &ignore)
        .await
        .unwrap();
    let probe = probe.unwrap();
    let real = url::Url::parse(probe.download_url.as_deref().unwrap()).unwrap();
    let trap = Tripwire::start().await;
    let query = real.query().unwrap();
    for hostile in [
        // Another port on the same loopback address (another local service).
        format!("http://127.0.0.1:{}{}?{query}", trap.port, real.path()),
        // Another loopback address.
        format!(
            "http://localhost:{}{}?{query}",
            real.port().unwrap(),
            real.path()
        ),
        // Off this computer, over https or plain http.
        format!("https://files.evil.example{}?{query}", real.path()),
        format!("http://203.0.113.7{}?{query}", real.path()),
    ] {
        let mut p = probe.clone();
        p.download_url = Some(hostile.clone());
        rec.clear();
        let err = exports
            .download_with(
                &c,
                &ready.job_id,
                Some(p),
                &fast(),
                &CancellationToken::new(),
                &ignore,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::UnsafeDownload, "{hostile}: {}", err.message);
        assert!(!err.retryable);
        let host = url::Url::parse(&hostile).unwrap();
        assert!(
            err.message.contains(host.host_str().unwrap()),
            "names the host: {}",
            err.message
        );
        assert!(
            !err.message.contains("signature"),
            "never the signed link: {}",
            err.message
        );
        // Nothing was sent: not to the link, and no fresh probe either (the refusal is final).
        assert!(rec.all().is_empty(), "{:?}", rec.all());
        let stored = exports.get(&ready.job_id).unwrap();
        assert_eq!(stored.local_path, None);
        assert_eq!(stored.error.unwrap().code, Code::UnsafeDownload);
    }
    assert!(
        !trap.contacted(),
        "the other loopback port was never contacted"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file, not even a .part"
    );
    // The real link on the API's own host still downloads.
    let done = exports
        .download_with(
            &c,
            &ready.job_id,
            Some(probe),
            &fast(),
            &CancellationToken::new(),
            &ignore,
        )
        .await
        .unwrap();
    assert!(done.local_path.is_some());
    sb.shutdown().await;
}

#[tokio::test]
async fn a_hostile_server_file_name_lands_as_a_plain_csv_that_open_accepts() {
    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 50,
        ..SandboxConfig::default()
    })
    .await;
    let (c, _) = client(&sb, &sb.keys.full);
    let dir = tempfile::tempdir().unwrap();
    let exports = Exports::open(Store::open_in_memory().unwrap(), owner(), "p").unwrap();
    let ignore = pb2b_core::exports::ignore_events;
    let mut names = Vec::new();
    for hostile in [
        "leads\u{202E}vsc.exe",
        "run.desktop",
        "page.hta",
        "setup.bat",
    ] {
        let job = exports
            .start(&c, &request(dir.path(), &["id"]), &ignore)
            .await
            .unwrap();
        let (ready, probe) = exports
            .wait_ready(&c, &job.job_id, &fast(), &CancellationToken::new(), &ignore)
            .await
            .unwrap();
        let mut probe = probe.unwrap();
        probe.file_name = Some(hostile.into());
        let done = exports
            .download_with(
                &c,
                &ready.job_id,
                Some(probe),
                &fast(),
                &CancellationToken::new(),
                &ignore,
            )
            .await
            .unwrap();
        let path = std::path::PathBuf::from(done.local_path.clone().unwrap());
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.ends_with(".csv"), "{hostile} became {name}");
        assert!(
            !name.chars().any(pb2b_core::exports::is_format_char),
            "{name:?}"
        );
        assert_eq!(path.parent().unwrap(), dir.path());
        assert_eq!(pb2b_core::exports::openable_export(&done).unwrap(), path);
        names.push(name);
    }
    assert_eq!(names[0], "leadsvsc.csv");
    assert_eq!(names[1], "run.csv");
    sb.shutdown().await;
}

#[test]
fn a_download_left_over_by_a_crash_is_removed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let exports = Exports::open(Store::open_in_memory().unwrap(), owner(), "p").unwrap();
    let job = exports
        .prepare(&request(dir.path(), &["id", "email"]))
        .unwrap();
    // What fetch_file leaves when the process is killed mid-download, an hour ago.
    let part = dir
        .path()
        .join(format!(".leads-exp_1.csv.{}.part", job.job_id));
    std::fs::write(&part, "id,email\r\n1,a@example.com\r\n").unwrap();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let touch_old = |p: &std::path::Path| {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    };
    touch_old(&part);
    // The user's own files, in the same folder and in Downloads (`extra`).
    let mine = dir.path().join(".draft.part");
    std::fs::write(&mine, "mine").unwrap();
    touch_old(&mine);
    let other_part = elsewhere
        .path()
        .join(".old.csv.job_ffffffffffffffffffff.part");
    std::fs::write(&other_part, "x").unwrap();
    touch_old(&other_part);
    let removed = exports.remove_leftover_parts(&[elsewhere.path().to_path_buf()]);
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(!part.exists() && !other_part.exists());
    assert!(mine.exists(), "never a user's file");
}
