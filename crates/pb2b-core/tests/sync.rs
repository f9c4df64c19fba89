//! Incremental sync against the in-process sandbox over HTTP: paging through shared
//! `updated_at`s, changes while paging, cancel and resume, one request when nothing changed,
//! random interleavings (proptest), search and export of the mirror.

mod common;

use common::{admin, bulk, client, edit, empty, sandbox_with, server_leads, Recorder};
use pb2b_core::api::{Client, Lead, NewLead};
use pb2b_core::store::Store;
use pb2b_core::sync::{
    self, CsvCells, ExportFormat, LeadFilter, LeadQuery, LeadSort, LeadSortField, Mirror, SyncMode,
    SyncOptions, SyncOutcome, SyncProgress,
};
use pb2b_sandbox::SandboxConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn mirror() -> Mirror {
    Mirror::open(
        Store::open_in_memory().expect("store"),
        "ws_test",
        "default",
    )
    .expect("mirror")
}

fn opts(page_size: u32) -> SyncOptions {
    SyncOptions {
        page_size,
        ..SyncOptions::default()
    }
}

async fn run(c: &Client, m: &Mirror, o: &SyncOptions) -> sync::SyncReport {
    sync::sync(c, m, o, &CancellationToken::new(), |_| {})
        .await
        .expect("sync")
}

fn list_requests(rec: &Recorder) -> usize {
    rec.all()
        .iter()
        .filter(|e| e.method == "GET" && e.path.starts_with("/api/public/v1/leads"))
        .count()
}

#[tokio::test]
async fn many_leads_sharing_one_updated_at_are_mirrored_once_and_the_sync_ends() {
    let sb = sandbox_with(empty()).await;
    bulk(&sb, 250, Some("2026-03-10T12:00:00.000Z")).await;
    let (c, rec) = client(&sb, &sb.keys.full);
    let m = mirror();
    let report = run(&c, &m, &opts(100)).await;
    assert_eq!(report.outcome, SyncOutcome::Completed);
    assert_eq!(report.progress.leads, 250);
    assert_eq!(report.progress.new, 250);
    assert_eq!(report.progress.pages, 3);
    assert_eq!(list_requests(&rec), 3);
    let mirrored = m.all_leads().unwrap();
    assert_eq!(mirrored.len(), 250);
    assert_eq!(mirrored, server_leads(&c).await);
    let status = m.status().unwrap();
    assert_eq!(status.total_leads, 250);
    assert_eq!(status.last_outcome, Some(SyncOutcome::Completed));
    assert!(!status.interrupted);
    assert_eq!(
        status.watermark.map(|w| w.updated_at),
        Some("2026-03-10T12:00:00.000Z".to_owned())
    );
}

#[tokio::test]
async fn an_incremental_sync_with_nothing_changed_makes_one_request() {
    let sb = sandbox_with(SandboxConfig::default()).await; // 40 demo leads
    let (c, rec) = client(&sb, &sb.keys.full);
    let m = mirror();
    let first = run(&c, &m, &SyncOptions::default()).await;
    assert_eq!(first.progress.new, 40);
    rec.clear();
    let second = run(&c, &m, &SyncOptions::default()).await;
    assert_eq!(rec.all().len(), 1, "{:#?}", rec.all());
    assert_eq!(second.requests, 1);
    assert_eq!((second.progress.new, second.progress.updated), (0, 0));
    assert!(
        second.progress.leads >= 1,
        "the overlap re-reads the newest"
    );
    assert!(rec.all()[0].path.contains("updated_after="));

    // A change shows up as one updated lead.
    let id = m.all_leads().unwrap()[7].id.clone();
    edit(&sb, &id, json!({"job_title": "Chief Sync Officer"})).await;
    let third = run(&c, &m, &SyncOptions::default()).await;
    assert_eq!((third.progress.new, third.progress.updated), (0, 1));
    assert_eq!(
        m.get(&id).unwrap().unwrap().job_title.as_deref(),
        Some("Chief Sync Officer")
    );
    assert_eq!(m.all_leads().unwrap(), server_leads(&c).await);
}

#[tokio::test]
async fn creates_and_edits_while_paging_are_all_mirrored_after_the_next_sync() {
    let sb = sandbox_with(SandboxConfig {
        latency_ms: 5,
        ..empty()
    })
    .await;
    bulk(&sb, 600, None).await;
    let (c, _rec) = client(&sb, &sb.keys.full);
    let before = server_leads(&c).await;
    let m = mirror();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let sync_task = {
        let (c, m) = (c.clone(), m.clone());
        tokio::spawn(async move {
            sync::sync(
                &c,
                &m,
                &opts(50),
                &CancellationToken::new(),
                move |p: &SyncProgress| {
                    let _ = tx.send(p.pages);
                },
            )
            .await
        })
    };
    // Once two pages are in (a commit may hold several): edit leads already read, leads not read
    // yet, create new ones.
    while let Some(pages) = rx.recv().await {
        if pages >= 2 {
            for (i, lead) in before.iter().step_by(97).enumerate() {
                edit(
                    &sb,
                    &lead.id,
                    json!({"status": "qualified", "custom_fields": {"touched": i}}),
                )
                .await;
            }
            for i in 0..5 {
                c.create_lead(
                    &NewLead {
                        email: format!("late{i}@example.com"),
                        full_name: Some(format!("Late Comer {i}")),
                        ..NewLead::default()
                    },
                    &format!("late-{i}"),
                )
                .await
                .expect("create");
            }
            break;
        }
    }
    let first = sync_task.await.unwrap().expect("first sync");
    assert_eq!(first.outcome, SyncOutcome::Completed);
    run(&c, &m, &opts(50)).await;
    let server = server_leads(&c).await;
    assert_eq!(server.len(), 605);
    assert_eq!(m.all_leads().unwrap(), server, "mirror equals server");
}

#[tokio::test]
async fn cancel_keeps_the_checkpoint_and_the_next_sync_resumes() {
    let sb = sandbox_with(empty()).await;
    // 40 pages of 50: more than one commit's group holds (32 pages), so the run cannot reach its
    // last page in the commit that sees the cancel. (The fetcher reads ahead of the writer, so
    // how many pages a commit holds depends on timing: the test asserts what any split gives.)
    bulk(&sb, 2_000, None).await;
    let (c, rec) = client(&sb, &sb.keys.full);
    let m = mirror();
    let cancel = CancellationToken::new();
    let report = {
        let cancel2 = cancel.clone();
        sync::sync(&c, &m, &opts(50), &cancel, move |p| {
            if p.pages >= 2 {
                cancel2.cancel();
            }
        })
        .await
        .expect("cancelled run")
    };
    assert_eq!(report.outcome, SyncOutcome::Cancelled);
    let done = report.progress.pages;
    assert!(
        (2..40).contains(&done),
        "stopped after the commit that saw the cancel: {done}"
    );
    let status = m.status().unwrap();
    assert!(status.interrupted);
    assert_eq!(status.last_outcome, Some(SyncOutcome::Cancelled));
    assert_eq!(
        status.total_leads,
        done * 50,
        "every committed page, nothing more"
    );

    rec.clear();
    let resumed = run(&c, &m, &opts(50)).await;
    assert!(resumed.progress.resumed);
    assert_eq!(resumed.progress.pages, 40, "counts cover the whole run");
    assert_eq!(resumed.progress.new, 2_000);
    assert_eq!(
        list_requests(&rec) as u64,
        40 - done,
        "only the pages after the checkpoint"
    );
    assert_eq!(m.all_leads().unwrap(), server_leads(&c).await);
    assert!(!m.status().unwrap().interrupted);
}

#[tokio::test]
async fn full_resync_and_resync_from_a_date() {
    let sb = sandbox_with(empty()).await;
    bulk(&sb, 30, Some("2026-01-05T00:00:00.000Z")).await;
    bulk(&sb, 20, Some("2026-02-05T00:00:00.000Z")).await;
    let (c, rec) = client(&sb, &sb.keys.full);
    let m = mirror();
    assert_eq!(run(&c, &m, &opts(100)).await.progress.new, 50);

    let since = SyncOptions {
        mode: SyncMode::Since {
            since: "2026-02-05".into(),
        },
        ..opts(100)
    };
    let r = run(&c, &m, &since).await;
    assert_eq!(r.progress.leads, 20, "from the date, inclusive");
    assert_eq!((r.progress.new, r.progress.updated), (0, 0));

    let full = SyncOptions {
        mode: SyncMode::Full,
        ..opts(100)
    };
    rec.clear();
    let r = run(&c, &m, &full).await;
    assert_eq!(r.progress.leads, 50);
    assert!(!rec.all()[0].path.contains("updated_after"));
    assert_eq!(m.all_leads().unwrap(), server_leads(&c).await);

    let bad = SyncOptions {
        mode: SyncMode::Since {
            since: "last tuesday".into(),
        },
        ..opts(100)
    };
    let err = sync::sync(&c, &m, &bad, &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code, "invalid_input");
}

#[tokio::test]
async fn a_failed_sync_is_reported_in_the_status_and_a_second_run_is_refused_meanwhile() {
    let sb = sandbox_with(SandboxConfig::default()).await;
    admin(
        &sb,
        reqwest::Method::POST,
        "/keys/leads_read",
        json!({"scopes": ["me.read"]}),
    )
    .await;
    let (c, _) = client(&sb, &sb.keys.leads_read);
    let m = mirror();
    let err = sync::sync(&c, &m, &opts(100), &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code, "insufficient_scope", "{err:?}");
    let status = m.status().unwrap();
    assert_eq!(status.last_outcome, Some(SyncOutcome::Failed));
    assert_eq!(
        status.last_error.map(|e| e.code.to_string()),
        Some("insufficient_scope".into())
    );
    assert!(!status.running);

    // Two runs of one mirror at once: the second is refused.
    let (c, _) = client(&sb, &sb.keys.full);
    let slow = {
        let mut cfg = common::config(&sb.base_url);
        cfg.extra_headers = vec![("X-Sandbox-Fault".into(), "latency=300".into())];
        common::client_with(cfg, &sb.keys.full).0
    };
    let m2 = m.clone();
    let first = tokio::spawn(async move { run(&slow, &m2, &opts(100)).await });
    // The first run marks itself running before its first request.
    while !m.status().unwrap().running {
        tokio::task::yield_now().await;
    }
    let err = sync::sync(&c, &m, &opts(100), &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code, "sync_running");
    assert_eq!(first.await.unwrap().outcome, SyncOutcome::Completed);
}

#[tokio::test]
async fn search_filter_sort_get_and_export_the_mirror() {
    let sb = sandbox_with(empty()).await;
    let (c, _) = client(&sb, &sb.keys.full);
    for (i, (name, email, status, company)) in [
        (
            "Ada Lovelace",
            "ada@analytical.example",
            "qualified",
            "=HYPERLINK(\"x\")",
        ),
        ("Grace Hopper", "grace@navy.example", "new", "Navy, Inc."),
        (
            "Alan Turing",
            "alan@bletchley.example",
            "qualified",
            "Bletchley",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        c.create_lead(
            &NewLead {
                email: email.into(),
                full_name: Some(name.into()),
                status: Some(status.into()),
                company_name: Some(company.into()),
                phone: Some("+44 20 7946 0000".into()),
                ..NewLead::default()
            },
            &format!("s-{i}"),
        )
        .await
        .unwrap();
    }
    let m = mirror();
    run(&c, &m, &opts(100)).await;

    let q = |query: &str| LeadQuery {
        query: query.into(),
        ..LeadQuery::default()
    };
    let hit = m.search(&q("lovel")).unwrap();
    assert_eq!(hit.total, 1);
    assert_eq!(hit.rows[0].email, "ada@analytical.example");
    assert_eq!(m.search(&q("bletchley alan")).unwrap().total, 1);
    assert_eq!(m.search(&q("navy lovelace")).unwrap().total, 0);
    assert_eq!(
        m.search(&q("\"*^()")).unwrap().total,
        3,
        "nothing searchable"
    );

    let filtered = m
        .search(&LeadQuery {
            filter: LeadFilter {
                status: Some("qualified".into()),
                ..LeadFilter::default()
            },
            sort: LeadSort {
                field: LeadSortField::FullName,
                descending: true,
            },
            ..LeadQuery::default()
        })
        .unwrap();
    let names: Vec<_> = filtered
        .rows
        .iter()
        .map(|l| l.full_name.clone().unwrap())
        .collect();
    assert_eq!(names, ["Alan Turing", "Ada Lovelace"]);
    let paged = m
        .search(&LeadQuery {
            sort: LeadSort {
                field: LeadSortField::Email,
                descending: false,
            },
            offset: 1,
            limit: 1,
            ..LeadQuery::default()
        })
        .unwrap();
    assert_eq!((paged.total, paged.rows.len()), (3, 1));
    assert_eq!(paged.rows[0].email, "alan@bletchley.example");
    let err = m
        .search(&LeadQuery {
            filter: LeadFilter {
                updated_from: Some("not a date".into()),
                ..LeadFilter::default()
            },
            ..LeadQuery::default()
        })
        .unwrap_err();
    assert_eq!(err.code, "invalid_input");
    assert!(m.get("lead_missing").unwrap().is_none());
    let counts = m.counts().unwrap();
    assert_eq!(counts.total, 3);
    assert_eq!(counts.by_status[0], ("qualified".to_owned(), 2));

    let mut csv = Vec::new();
    assert_eq!(
        m.export(
            ExportFormat::Csv,
            CsvCells::Spreadsheet,
            &LeadQuery::default(),
            &mut csv,
            None,
        )
        .unwrap(),
        3
    );
    let text = String::from_utf8(csv).unwrap();
    assert!(text.starts_with("\u{feff}id,email,full_name,"), "{text}");
    assert!(text.contains(",\"'=HYPERLINK(\"\"x\"\")\","), "{text}");
    assert!(text.contains(",'+44 20 7946 0000,"), "{text}");
    assert!(text.contains(",\"Navy, Inc.\","), "{text}");
    assert_eq!(text.matches("\r\n").count(), 4);
    // For a program (`--raw`): the values as they are, still quoted where CSV needs it.
    let mut raw = Vec::new();
    m.export(
        ExportFormat::Csv,
        CsvCells::Raw,
        &LeadQuery::default(),
        &mut raw,
        None,
    )
    .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains(",\"=HYPERLINK(\"\"x\"\")\","), "{raw}");
    assert!(raw.contains(",+44 20 7946 0000,"), "{raw}");
    assert!(!raw.contains('\''), "{raw}");
    assert_eq!(raw.matches("\r\n").count(), 4);
    // JSON Lines is never neutralised, whatever `cells` says.
    let mut jsonl = Vec::new();
    m.export(
        ExportFormat::Jsonl,
        CsvCells::Spreadsheet,
        &LeadQuery::default(),
        &mut jsonl,
        None,
    )
    .unwrap();
    let leads: Vec<Lead> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(leads
        .iter()
        .all(|l| l.phone.as_deref() == Some("+44 20 7946 0000")));
    assert!(leads
        .iter()
        .any(|l| l.company_name.as_deref() == Some("=HYPERLINK(\"x\")")));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leads.jsonl");
    let n = m
        .export_to_file(
            ExportFormat::Jsonl,
            CsvCells::Spreadsheet,
            &LeadQuery {
                filter: LeadFilter {
                    status: Some("qualified".into()),
                    ..LeadFilter::default()
                },
                ..LeadQuery::default()
            },
            &path,
            None,
        )
        .unwrap();
    assert_eq!(n, 2);
    let lines: Vec<Lead> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l.status == "qualified"));
    let cancel = CancellationToken::new();
    cancel.cancel();
    let bad = dir.path().join("x.csv");
    assert!(m
        .export_to_file(
            ExportFormat::Csv,
            CsvCells::Spreadsheet,
            &LeadQuery::default(),
            &bad,
            Some(&cancel)
        )
        .is_err());
    assert!(!bad.exists() && std::fs::read_dir(dir.path()).unwrap().count() == 1);
}

#[tokio::test]
async fn mirrors_are_kept_per_workspace_in_one_database() {
    let sb = sandbox_with(SandboxConfig::default()).await;
    let (c, _) = client(&sb, &sb.keys.full);
    let ws = c.me().await.unwrap().data.workspace.id;
    let store = Store::open_in_memory().unwrap();
    let a = Mirror::open(store.clone(), &ws, "work").unwrap();
    let b = Mirror::open(store.clone(), "ws_other", "home").unwrap();
    run(&c, &a, &opts(100)).await;
    assert_eq!(a.count().unwrap(), 40);
    assert_eq!(b.count().unwrap(), 0);
    let found = Mirror::for_profile(store.clone(), "work").unwrap().unwrap();
    assert_eq!(found.workspace_id(), ws);
    assert_eq!(Mirror::list(&store).unwrap().len(), 2);
    assert!(Mirror::open(store, "  ", "x").is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Create(u8),
    Edit(u8),
    Sync,
    SyncCancelledAfter(u8),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        // A bulk insert gives all its leads one updated_at.
        (1u8..8).prop_map(Op::Create),
        any::<u8>().prop_map(Op::Edit),
        Just(Op::Sync),
        (1u8..3).prop_map(Op::SyncCancelledAfter),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    #[test]
    fn random_interleavings_of_creates_edits_and_syncs_end_equal(ops in proptest::collection::vec(op(), 1..10)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let sb = sandbox_with(empty()).await;
            let (c, _) = client(&sb, &sb.keys.full);
            let m = mirror();
            let o = SyncOptions { page_size: 3, overlap_ms: 1, ..SyncOptions::default() };
            let mut edits = 0u32;
            for op in ops {
                match op {
                    Op::Create(n) => bulk(&sb, u64::from(n), None).await,
                    Op::Edit(k) => {
                        let all = server_leads(&c).await;
                        if !all.is_empty() {
                            let id = &all[usize::from(k) % all.len()].id;
                            edits += 1;
                            let body = json!({"job_title": format!("Edit {edits}"), "phone": null});
                            edit(&sb, id, body).await;
                        }
                    }
                    Op::Sync => { run(&c, &m, &o).await; }
                    Op::SyncCancelledAfter(p) => {
                        let cancel = CancellationToken::new();
                        let c2 = cancel.clone();
                        sync::sync(&c, &m, &o, &cancel, move |s| if s.pages >= u64::from(p) { c2.cancel() })
                            .await
                            .expect("sync");
                    }
                }
            }
            run(&c, &m, &o).await;
            assert_eq!(m.all_leads().unwrap(), server_leads(&c).await);
            sb.shutdown().await;
        });
    }
}

/// The indexes and triggers of `sync_leads` (name and `CREATE` text), the objects a bulk load
/// left set aside, and whether the search index matches the table (FTS5's `integrity-check`).
fn mirror_schema(store: &Store) -> (Vec<(String, String)>, i64, bool) {
    store
        .with_conn(|c| {
            let mut st = c.prepare(
                "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'sync_leads'
                 AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name",
            )?;
            let objects = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let set_aside = c.query_row("SELECT count(*) FROM sync_bulk", [], |r| r.get(0))?;
            let intact = c
                .execute_batch(
                    "INSERT INTO sync_leads_fts(sync_leads_fts, rank) VALUES ('integrity-check', 1)",
                )
                .is_ok();
            Ok((objects, set_aside, intact))
        })
        .unwrap()
}

#[tokio::test]
async fn a_first_sync_into_a_file_loads_in_bulk_and_ends_with_every_index_and_a_full_search() {
    // Pages come slower than they are written, so the cancel lands before the last page.
    let sb = sandbox_with(SandboxConfig {
        latency_ms: 20,
        ..empty()
    })
    .await;
    bulk(&sb, 700, None).await;
    let (c, _) = client(&sb, &sb.keys.full);
    let tmp = tempfile::tempdir().unwrap();
    let fresh = Mirror::open(
        Store::open(&tmp.path().join("fresh.sqlite")).unwrap(),
        "w",
        "p",
    )
    .unwrap();
    let complete = mirror_schema(fresh.store());
    assert_eq!((complete.0.len(), complete.1, complete.2), (9, 0, true));
    let text_matches = |m: &Mirror, text: &str| {
        m.search(&LeadQuery {
            query: text.into(),
            ..LeadQuery::default()
        })
        .unwrap()
        .total
    };

    // Completed: built in the last page's transaction.
    let m = Mirror::open(Store::open(&tmp.path().join("a.sqlite")).unwrap(), "w", "p").unwrap();
    let report = run(&c, &m, &opts(100)).await;
    assert_eq!(report.progress.new, 700);
    assert_eq!(mirror_schema(m.store()), complete);
    let server = server_leads(&c).await;
    assert_eq!(m.all_leads().unwrap(), server);
    let email = &server[123].email;
    assert_eq!(text_matches(&m, email), 1);

    // Cancelled after two pages: built as the run ends; the resumed run is an ordinary one.
    let m = Mirror::open(Store::open(&tmp.path().join("b.sqlite")).unwrap(), "w", "p").unwrap();
    let cancel = CancellationToken::new();
    let cancel2 = cancel.clone();
    let report = sync::sync(&c, &m, &opts(100), &cancel, move |p| {
        if p.pages >= 2 {
            cancel2.cancel();
        }
    })
    .await
    .unwrap();
    assert_eq!(report.outcome, SyncOutcome::Cancelled);
    assert_eq!(mirror_schema(m.store()), complete);
    let kept = m.all_leads().unwrap();
    assert!(!kept.is_empty() && kept.len() < 700);
    assert_eq!(text_matches(&m, &kept[0].email), 1);
    let resumed = run(&c, &m, &opts(100)).await;
    assert!(resumed.progress.resumed);
    assert_eq!(m.all_leads().unwrap(), server);
    assert_eq!(mirror_schema(m.store()), complete);
    assert_eq!(text_matches(&m, email), 1);
}
