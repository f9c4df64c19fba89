//! A canary key through a full session (me, leads, errors, webhooks, an export download) over
//! real HTTP: found 0 times in every recorded Exchange, every ApiError / ErrorReport (Debug,
//! Display, JSON), every tracing line, and the SQLite files' bytes.
//!
//! The only test in this binary: a scoped tracing subscriber does not see callsites that a
//! parallel test on another thread registered first.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use pb2b_core::api::{
    Client, ListLeadsQuery, NewExport, NewLead, NewWebhook, PageQuery, RequestObserver,
};
use pb2b_core::error::ErrorReport;
use pb2b_core::secret::SecretString;
use pb2b_core::store::{LogFilter, RequestLog, Store};
use pb2b_sandbox::SandboxConfig;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Both the recorder (for in-memory checks) and the SQLite log get every attempt.
struct Tee(Arc<Recorder>, RequestLog);
impl RequestObserver for Tee {
    fn record(&self, e: &pb2b_core::api::Exchange) {
        self.0.record(e);
        self.1.record(e);
    }
}

fn occurrences(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

#[tokio::test]
async fn the_key_never_leaves_the_authorization_header() {
    let traces = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let t = traces.clone();
            move || t.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sb = sandbox_with(SandboxConfig {
        export_delay_ms: 20,
        ..SandboxConfig::default()
    })
    .await;
    let canary = sb.keys.full.clone();
    let canary_secret = canary.rsplit('_').next().unwrap().to_owned();
    assert_eq!(canary_secret.len(), 32);
    // A second canary: a well-formed key the server does not know.
    let unknown = "pb2b_test_canaryzz_CANARYcanaryCANARYcanaryQQQQQQQQ".to_owned();
    assert!(pb2b_core::api::key_looks_valid(&unknown));
    let unknown_secret = unknown.rsplit('_').next().unwrap().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("pb2b.sqlite");
    let store = Store::open(&db_path).unwrap();
    let log = RequestLog::new(store.clone(), "Canary", 10_000);
    let rec = Arc::new(Recorder::default());
    let observer = Arc::new(Tee(rec.clone(), log.clone()));

    let mut debug_strings: Vec<String> = Vec::new();
    let mut reports: Vec<ErrorReport> = Vec::new();
    let client = Client::new(
        config(&sb.base_url),
        SecretString::new(canary.clone()),
        observer.clone(),
    )
    .unwrap();
    debug_strings.push(format!("{client:?}"));

    // Success paths.
    let me = client.me().await.unwrap();
    debug_strings.push(format!("{me:?}"));
    let lead = NewLead {
        email: "canary@example.com".into(),
        full_name: Some("Canary Bird".into()),
        ..NewLead::default()
    };
    let created = client.create_lead(&lead, "canary-1").await.unwrap();
    debug_strings.push(format!("{created:?}"));
    let replay = client.create_lead(&lead, "canary-1").await.unwrap();
    assert!(replay.replayed);
    let page = client
        .list_leads(&ListLeadsQuery {
            limit: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    debug_strings.push(format!("{page:?}"));

    // A webhook: its signing secret must not reach the log either.
    let hook = client
        .create_webhook(
            &NewWebhook {
                url: "http://127.0.0.1:9/hook".into(),
                events: vec!["lead.created".into()],
                ..Default::default()
            },
            "canary-hook",
        )
        .await
        .unwrap();
    let signing_secret = hook
        .data
        .signing_secret
        .as_ref()
        .expect("shown once on create")
        .expose()
        .clone();
    debug_strings.push(format!("{hook:?}"));
    let listed = client.list_webhooks(&PageQuery::default()).await.unwrap();
    assert!(listed.data.iter().all(|w| w.signing_secret.is_none()));
    let rotated = client
        .rotate_webhook_secret(&hook.data.id, "canary-rotate")
        .await
        .unwrap();
    let rotated_secret = rotated
        .data
        .signing_secret
        .as_ref()
        .unwrap()
        .expose()
        .clone();
    assert_ne!(rotated_secret, signing_secret);
    client.delete_webhook(&hook.data.id).await.unwrap();

    // An export, downloaded from its signed URL without the Authorization header.
    let export = client
        .create_export(&NewExport::default(), "canary-export")
        .await
        .unwrap();
    assert_eq!(export.status, 202);
    let probe = loop {
        let p = client.export_download_probe(&export.data.id).await.unwrap();
        if p.data.download_ready {
            break p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let url = probe.data.download_url.clone().unwrap();
    // The signed URL is a credential and the file is personal data: neither may be logged.
    let signature = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "signature")
        .map(|(_, v)| v.into_owned())
        .expect("a signed URL");
    let mut file: Vec<u8> = Vec::new();
    let mut progress_calls = 0;
    let written = client
        .download_file(&url, &mut file, |_, _| progress_calls += 1)
        .await
        .unwrap();
    assert_eq!(written as usize, file.len());
    assert_eq!(Some(written as i64), probe.data.byte_size);
    assert!(progress_calls >= 2);
    assert!(String::from_utf8_lossy(&file).starts_with("id,"));
    let exported_row = String::from_utf8_lossy(&file)
        .lines()
        .nth(1)
        .expect("a lead row")
        .to_owned();
    let download = rec.all().into_iter().last().unwrap();
    assert!(download.path.starts_with("/files/exports/"));
    assert!(
        download.path.contains("signature=<redacted>"),
        "{}",
        download.path
    );

    // Error paths with the canary key and the unknown one.
    let mut errors = vec![
        client.get_lead("lead_nope").await.unwrap_err(),
        client
            .create_lead(
                &NewLead {
                    email: "x".into(),
                    ..Default::default()
                },
                "canary-bad",
            )
            .await
            .unwrap_err(),
        client
            .create_lead(
                &NewLead {
                    email: "other@example.com".into(),
                    ..Default::default()
                },
                "canary-1",
            )
            .await
            .unwrap_err(),
    ];
    let stranger = Client::new(
        config(&sb.base_url),
        SecretString::new(unknown.clone()),
        observer.clone(),
    )
    .unwrap();
    errors.push(stranger.me().await.unwrap_err());
    let malformed = Client::new(
        config(&sb.base_url),
        SecretString::new(format!("{canary} trailing")),
        observer.clone(),
    )
    .unwrap_err();
    errors.push(malformed);
    for e in &errors {
        debug_strings.push(format!("{e:?}"));
        debug_strings.push(format!("{e}"));
        let report = ErrorReport::from(e.clone());
        debug_strings.push(format!("{report:?}"));
        debug_strings.push(serde_json::to_string(&report).unwrap());
        reports.push(report);
    }
    sb.shutdown().await;

    // The checks.
    let exchanges = rec.all();
    assert!(exchanges.len() >= 15, "{}", exchanges.len());
    for e in &exchanges {
        debug_strings.push(format!("{e:?}"));
        debug_strings.push(serde_json::to_string(e).unwrap());
        assert!(e
            .request_headers
            .iter()
            .all(|(n, _)| !n.eq_ignore_ascii_case("authorization")));
    }
    let logged = log
        .query(&LogFilter {
            limit: Some(10_000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(logged.len(), exchanges.len());
    for row in &logged {
        debug_strings.push(format!("{row:?}"));
        debug_strings
            .push(serde_json::to_string(&log.support_bundle(row.id, "test").unwrap()).unwrap());
    }
    let traced = String::from_utf8(traces.0.lock().unwrap().clone()).unwrap();
    assert!(
        traced.contains("api request"),
        "the client traced its requests"
    );
    debug_strings.push(traced);
    let everything = debug_strings.join("\n");
    for needle in [
        &canary,
        &canary_secret,
        &unknown,
        &unknown_secret,
        &signing_secret,
        &rotated_secret,
        &signature,
        &exported_row,
    ] {
        assert_eq!(
            occurrences(everything.as_bytes(), needle),
            0,
            "found a secret in output"
        );
    }
    // The SQLite files, byte for byte (WAL and shared memory included).
    drop(log);
    drop(observer);
    drop(store);
    let mut files = 0;
    // Every file under the folder, the database's `.processes/` entries included.
    let mut paths: Vec<std::path::PathBuf> = vec![dir.path().to_owned()];
    let mut all = Vec::new();
    while let Some(p) = paths.pop() {
        if p.is_dir() {
            paths.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            all.push(p);
        }
    }
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        for needle in [
            &canary,
            &canary_secret,
            &unknown_secret,
            &signing_secret,
            &rotated_secret,
            &signature,
            &exported_row,
        ] {
            assert_eq!(
                occurrences(&bytes, needle),
                0,
                "found a secret in the database"
            );
        }
    }
    assert!(files >= 1);
    assert_eq!(reports.len(), 5);
    assert!(reports.iter().take(4).all(|r| r.request_id.is_some()));
}
