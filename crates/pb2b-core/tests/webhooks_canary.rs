//! A full webhooks session (create, list, get, deliveries into the test receiver, retry,
//! rotate, the checker, delete) with the request log in SQLite and every tracing line captured:
//! the signing secrets are found 0 times in the SQLite files, the traces and the settings file,
//! and, when the user chose "Save to keychain", only in the keychain.
//!
//! The only test in this binary (a scoped tracing subscriber, see canary.rs).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use pb2b_core::api::{Client, NewLead};
use pb2b_core::profiles::JsonFileSettings;
use pb2b_core::secret::{KeyStore, OsKeychain, SecretString};
use pb2b_core::store::{RequestLog, Store};
use pb2b_core::webhooks::{
    self, check_signature, new_idempotency_key, ReceiverConfig, SignatureCheck, TestReceiver,
    WebhookManager,
};
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

fn occurrences(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

fn keychain() -> Option<OsKeychain> {
    let k = OsKeychain::new("com.prospectb2b.desktop.test.webhooks_canary");
    let status = k.probe();
    if status.reachable {
        Some(k)
    } else if std::env::var_os("PB2B_EXPECT_KEYCHAIN").is_some() {
        panic!(
            "the test session's Secret Service is not reachable: {}",
            status.detail
        );
    } else {
        eprintln!("keychain part skipped: {}", status.detail);
        None
    }
}

#[tokio::test]
async fn signing_secrets_reach_no_log_database_trace_or_settings() {
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
        webhook_retry_delays: vec![Duration::from_millis(50); 4],
        ..SandboxConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join(pb2b_core::DATABASE_FILE)).unwrap();
    let log = RequestLog::new(store.clone(), "Canary", 10_000);
    let client = Client::new(
        config(&sb.base_url),
        SecretString::new(sb.keys.full.clone()),
        Arc::new(log),
    )
    .unwrap();
    let settings_path = dir.path().join(pb2b_core::SETTINGS_FILE);
    let _settings = JsonFileSettings::new(&settings_path);
    std::fs::write(
        &settings_path,
        b"{\"profiles\":{\"profiles\":[],\"active\":null}}",
    )
    .unwrap();
    let keys = keychain();
    let m = WebhookManager::new(&client, true, keys.as_ref().map(|k| k as &dyn KeyStore));

    let receiver = TestReceiver::start(ReceiverConfig::default())
        .await
        .unwrap();
    let mut live = receiver.subscribe();
    let created = m
        .create_for_receiver(
            &receiver,
            &["lead.created".into()],
            &new_idempotency_key("create"),
        )
        .await
        .unwrap();
    let first = created.secret.secret().expose().clone();
    tracing::info!(?created, "created"); // Debug of the whole answer: redacted
    m.list().await.unwrap();
    m.get(&created.endpoint.id).await.unwrap();
    client
        .create_lead(
            &NewLead {
                email: "canary-hook@example.com".into(),
                ..NewLead::default()
            },
            "canary-lead",
        )
        .await
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(20), live.next_delivery())
        .await
        .unwrap()
        .unwrap();
    assert!(d.verdict.valid);
    tracing::info!(?d, "received");
    let rows = m
        .deliveries(&created.endpoint.id, None, None)
        .await
        .unwrap();
    m.retry_delivery(&created.endpoint.id, &rows.deliveries[0].id, "canary-retry")
        .await
        .unwrap();
    let rotated = m
        .rotate_secret(&created.endpoint.id, &new_idempotency_key("rotate"))
        .await
        .unwrap();
    let second = rotated.secret.secret().expose().clone();
    tracing::info!(?rotated, "rotated");

    // The checker with a typed secret, and (when there is a keychain) with the saved one.
    let headers = format!(
        "X-ProspectB2B-Timestamp: {}\nX-ProspectB2B-Signature: {}",
        d.timestamp.clone().unwrap(),
        d.signature.clone().unwrap()
    );
    let verdict = check_signature(
        &SignatureCheck {
            headers: headers.clone(),
            body: d.body().into_owned(),
            secret: Some(SecretString::new(first.clone())),
            saved_webhook_id: None,
            tolerance_seconds: None,
        },
        None,
    )
    .unwrap();
    assert!(verdict.valid, "{verdict:?}");
    if let Some(k) = &keys {
        webhooks::save_secret(k, &rotated.secret).unwrap();
        assert_eq!(
            webhooks::saved_secret(k, &created.endpoint.id)
                .unwrap()
                .unwrap()
                .expose(),
            &second,
            "only the keychain holds it"
        );
        assert!(m.get(&created.endpoint.id).await.unwrap().secret_saved);
        let with_saved = check_signature(
            &SignatureCheck {
                headers,
                body: d.body().into_owned(),
                secret: None,
                saved_webhook_id: Some(created.endpoint.id.clone()),
                tolerance_seconds: None,
            },
            Some(k),
        )
        .unwrap();
        // The delivery was signed with the first secret; the saved one is the rotated one.
        assert_eq!(with_saved.kind, webhooks::VerdictKind::Mismatch);
    }
    m.delete(&created.endpoint.id).await.unwrap();
    if let Some(k) = &keys {
        assert!(webhooks::saved_secret(k, &created.endpoint.id)
            .unwrap()
            .is_none());
    }
    receiver.stop().await;
    drop(client);

    store
        .with_conn(|c| c.execute_batch("PRAGMA wal_checkpoint(FULL);"))
        .ok();
    // Every file under the folder, the database's `.processes/` entries included.
    let mut files = Vec::new();
    let mut todo = vec![dir.path().to_owned()];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    assert!(files
        .iter()
        .any(|(p, b)| p.ends_with(".sqlite") && !b.is_empty()));
    let traces = traces.0.lock().unwrap().clone();
    assert!(
        occurrences(&traces, &created.endpoint.id) > 0,
        "traces were captured"
    );
    for secret in [&first, &second] {
        let tail = &secret[12..];
        for (path, bytes) in &files {
            assert_eq!(occurrences(bytes, tail), 0, "{path}");
        }
        assert_eq!(occurrences(&traces, tail), 0, "traces");
    }
}
