//! The Overview's figures equal what the sandbox holds: leads by status and source and per week
//! from the mirror after a sync, and the webhook deliveries of the last days, succeeded and
//! failed, as the server reports them.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pb2b_core::api::{ListLeadsQuery, NewLead};
use pb2b_core::jobs::{Job, JobOutcome};
use pb2b_core::profiles::Profile;
use pb2b_core::secret::{OsKeychain, SecretString};
use pb2b_core::sync::{CancellationToken, SyncOptions};
use pb2b_core::webhooks::{WebhookDraft, WebhookManager};
use pb2b_core::workspace::{Credentials, DataFolder, Workspace};
use pb2b_sandbox::SandboxConfig;

/// A webhook receiver that answers 200 to everything (the sandbox's deliveries succeed).
async fn accepting_server() -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    format!("http://{addr}/hook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_what_the_server_holds() {
    let sb = common::sandbox_with(SandboxConfig {
        webhook_retry_delays: vec![],
        webhook_timeout: Duration::from_secs(2),
        ..SandboxConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let folder = DataFolder::new(tmp.path(), Arc::new(OsKeychain::new("pb2b-overview-test")));
    let credentials = Credentials {
        profile: Profile {
            name: "Overview test".into(),
            base_url: sb.base_url.clone(),
            key_hint: "…".into(),
            sandbox: false,
        },
        key: SecretString::new(sb.keys.full.clone()),
    };
    let workspace = Workspace::open(&folder, credentials).await.unwrap();

    // One endpoint that accepts and one that nobody listens on (port 9, discard).
    let manager = WebhookManager::new(workspace.client(), true, None);
    let ok_url = accepting_server().await;
    for (url, key) in [
        (ok_url.as_str(), "ov-ok"),
        ("http://127.0.0.1:9/hook", "ov-bad"),
    ] {
        manager
            .create(
                &WebhookDraft {
                    url: url.into(),
                    events: vec!["lead.created".into()],
                    description: None,
                    enabled: None,
                },
                key,
            )
            .await
            .unwrap();
    }
    for i in 0..3 {
        let lead = NewLead {
            email: format!("overview{i}@example.com"),
            full_name: Some(format!("Overview {i}")),
            ..NewLead::default()
        };
        workspace
            .client()
            .create_lead(&lead, &format!("ov-lead-{i}"))
            .await
            .unwrap();
    }
    let outcome = workspace
        .run_job(
            &Job::Sync(SyncOptions::default()),
            &CancellationToken::new(),
            &|_| {},
        )
        .await
        .unwrap();
    assert!(matches!(outcome, JobOutcome::Sync(_)));

    // Wait until the server has settled every delivery (one attempt each).
    let endpoints = manager.list().await.unwrap();
    for _ in 0..200 {
        let mut pending = 0;
        for e in &endpoints {
            let page = manager.deliveries(&e.id, None, Some(100)).await.unwrap();
            pending += page
                .deliveries
                .iter()
                .filter(|d| d.status == "pending")
                .count();
        }
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let overview = workspace.overview().await.unwrap();
    assert!(!overview.first_sync_due, "synced before");

    // What the server holds, read page by page.
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_source: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    let mut cursor = None;
    loop {
        let page = workspace
            .client()
            .list_leads(&ListLeadsQuery {
                limit: Some(100),
                updated_after: None,
                cursor: cursor.take(),
            })
            .await
            .unwrap();
        for lead in &page.data {
            total += 1;
            *by_status.entry(lead.status.clone()).or_default() += 1;
            *by_source.entry(lead.source.clone()).or_default() += 1;
        }
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    assert!(total >= 3);
    assert_eq!(overview.leads_total, total);
    assert_eq!(overview.sync.total_leads, total);
    let tallies = |t: &[pb2b_core::overview::Tally]| -> BTreeMap<String, u64> {
        t.iter().map(|x| (x.value.clone(), x.count)).collect()
    };
    assert_eq!(tallies(&overview.by_status), by_status);
    assert_eq!(tallies(&overview.by_source), by_source);
    // Largest first.
    assert!(overview
        .by_status
        .windows(2)
        .all(|w| w[0].count >= w[1].count));
    assert_eq!(overview.created_per_week.len(), pb2b_core::overview::WEEKS);
    // The three leads made just now are in the current week.
    assert!(overview.created_per_week.last().unwrap().count >= 3);
    assert!(overview.sync.last_finished_at.is_some());

    let d = &overview.deliveries;
    assert!(d.error.is_none(), "{:?}", d.error);
    assert_eq!(d.endpoints, 2);
    assert_eq!(d.days.len(), pb2b_core::overview::DAYS);
    let today = d.days.last().unwrap();
    assert_eq!((today.succeeded, today.failed), (3, 3), "{d:?}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_webhooks_scope_the_overview_still_answers_and_says_why() {
    let sb = common::sandbox().await;
    let tmp = tempfile::tempdir().unwrap();
    let folder = DataFolder::new(tmp.path(), Arc::new(OsKeychain::new("pb2b-overview-test")));
    let credentials = Credentials {
        profile: Profile {
            name: "Leads only".into(),
            base_url: sb.base_url.clone(),
            key_hint: "…".into(),
            sandbox: false,
        },
        key: SecretString::new(sb.keys.leads_read.clone()),
    };
    let workspace = Workspace::open(&folder, credentials).await.unwrap();
    let overview = workspace.overview().await.unwrap();
    let err = overview.deliveries.error.expect("no webhooks.read scope");
    assert_eq!(err.code, "insufficient_scope", "{err:?}");
    assert_eq!(overview.leads_total, 0, "nothing synced yet");
    assert!(
        overview.first_sync_due,
        "never synced: the Overview starts the first sync"
    );
    sb.shutdown().await;
}
