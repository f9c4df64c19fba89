//! The PostgreSQL server stopped (`pg_ctl stop -m immediate`: no shutdown checkpoint, open
//! transactions cut) while a sync writes into it, then started again on the same data folder and
//! port: the sync fails with a retryable `destination_error`, the next one resumes, and the
//! schema equals the server. Its own test binary: it stops the cluster every test shares, and
//! cargo runs test binaries one after another.

mod common;

use common::{client, sandbox_with};
use pb2b_core::api::{Client, ListLeadsQuery};
use pb2b_core::sync::postgres::{PgTarget, Postgres};
use pb2b_core::sync::{self, SyncOptions, SyncOutcome, SyncProgress};
use pb2b_sandbox::SandboxConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs a PostgreSQL server it may stop and start. Run it \
             through scripts/with-postgres, e.g. `scripts/with-postgres cargo test -p pb2b-core \
             --test postgres_restart`."
        )
    })
}

fn pg_ctl(args: &[&str]) {
    let out = std::process::Command::new(env("PB2B_TEST_PG_CTL"))
        .args(args)
        .output()
        .expect("pg_ctl runs");
    assert!(
        out.status.success(),
        "pg_ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn server_versions(c: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = c
            .list_leads(&ListLeadsQuery {
                limit: Some(100),
                updated_after: None,
                cursor,
            })
            .await
            .unwrap();
        out.extend(page.data.into_iter().map(|l| (l.id, l.updated_at)));
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stopped_mid_transaction_and_started_again_loses_nothing() {
    let url = env("PB2B_TEST_POSTGRES_URL");
    let sb = sandbox_with(SandboxConfig {
        seed_demo: false,
        latency_ms: 2,
        ..SandboxConfig::default()
    })
    .await;
    let body = json!({"count": 6000});
    reqwest::Client::new()
        .post(format!("{}/leads/bulk", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (c, _) = client(&sb, &sb.keys.full);
    let ws = c.me().await.unwrap().data.workspace.id;
    let name = format!("t_restart_{:08x}", fastrand::u32(..));
    let target = PgTarget::parse(&url, Some(&name), None).unwrap();

    for stop_after_pages in [4u64, 17] {
        let pg = Postgres::open(&target, &ws).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (options, cancel) = (SyncOptions::default(), CancellationToken::new());
        let run = sync::sync_to(&c, &pg, &options, &cancel, move |p: &SyncProgress| {
            let _ = tx.send(p.pages);
        });
        // Stop the server while the writer is busy with the next pages.
        let stopper = async {
            while let Some(pages) = rx.recv().await {
                if pages >= stop_after_pages {
                    tokio::task::spawn_blocking(|| pg_ctl(&["stop", "-m", "immediate", "-w"]))
                        .await
                        .unwrap();
                    break;
                }
            }
        };
        let (result, ()) = tokio::join!(run, stopper);
        let err = result.expect_err("the sync fails when its server goes away");
        assert_eq!(err.code, "destination_error", "{err:?}");
        assert!(err.retryable, "{err:?}");
        drop(pg);
        tokio::task::spawn_blocking(|| pg_ctl(&["start", "-w"]))
            .await
            .unwrap();
        // Some edits before the next run.
        let all = server_versions(&c).await;
        reqwest::Client::new()
            .patch(format!(
                "{}/leads/{}",
                sb.admin_url, all[stop_after_pages as usize].0
            ))
            .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
            .json(&json!({"status": "qualified"}))
            .send()
            .await
            .unwrap();
    }

    let pg = Postgres::open(&target, &ws).await.unwrap();
    let status = pg.status().await.unwrap();
    assert!(status.interrupted, "the run is resumable");
    let report = sync::sync_to(
        &c,
        &pg,
        &SyncOptions::default(),
        &CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, SyncOutcome::Completed);
    assert!(report.progress.resumed);
    let mut mirrored: Vec<_> = pg
        .all_leads()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l.updated_at))
        .collect();
    mirrored.sort();
    let server = server_versions(&c).await;
    assert_eq!(server.len(), 6000);
    let mut ids: Vec<_> = mirrored.iter().map(|(id, _)| id).collect();
    ids.dedup();
    assert_eq!(ids.len(), mirrored.len(), "0 duplicates");
    assert_eq!(mirrored, server, "0 missing, 0 stale");
}
