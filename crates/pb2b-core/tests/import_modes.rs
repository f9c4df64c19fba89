//! Import modes and the review, against the sandbox over HTTP and a real mirror: every row
//! classed against the workspace before anything is sent (create, update with old → new,
//! unchanged, skipped because it exists or is missing, ambiguous, invalid, duplicate), the same
//! counts from the file's dry run, a re-import in the default mode that creates nothing, upsert
//! and update-only sending what the review said, and the server's answer recorded where it
//! disagrees with the review.

mod common;

use pb2b_core::api::{Client, NewLead};
use pb2b_core::import::review::{ReviewClass, REVIEW_COLUMNS};
use pb2b_core::import::{self, ImportMode, Imports, ReadProgress, RunOptions};
use pb2b_core::store::Store;
use pb2b_core::sync::{self, Mirror, SyncOptions};
use pb2b_core::workspace::Owner;
use tokio_util::sync::CancellationToken;

const WS: &str = "ws_modes";

fn owner() -> Owner {
    Owner {
        workspace_id: WS.into(),
        workspace_name: "Modes".into(),
        key_prefix: "pb2b_test".into(),
    }
}

async fn create(c: &Client, email: &str, name: &str, title: &str, key: &str) -> String {
    let lead = NewLead {
        email: email.into(),
        full_name: Some(name.into()),
        job_title: Some(title.into()),
        ..Default::default()
    };
    c.create_lead(&lead, key).await.unwrap().data.id
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

fn stage(imports: &Imports, path: &std::path::Path) -> String {
    let pv = import::preview(None, path, None, 0).unwrap();
    imports
        .stage(
            path,
            &pv.mapping,
            &|_: &ReadProgress| {},
            &CancellationToken::new(),
        )
        .unwrap()
        .id
}

fn review(imports: &Imports, m: &Mirror, id: &str, mode: ImportMode) -> import::ImportReview {
    imports
        .review(m, id, mode, false, &CancellationToken::new())
        .unwrap()
}

async fn run(imports: &Imports, id: &str) -> import::ImportSummary {
    imports
        .run(
            id,
            &RunOptions::default(),
            &|_| {},
            &CancellationToken::new(),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_classes_every_row_and_each_mode_sends_what_it_said() {
    let sb = common::sandbox_with(common::empty()).await;
    let (c, _) = common::client(&sb, &sb.keys.full);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data.sqlite")).unwrap();
    let m = Mirror::open(store.clone(), WS, "default").unwrap();
    let imports = Imports::new(store.clone(), c.clone(), owner());

    create(&c, "ada@example.com", "Ada", "Engineer", "k-ada").await;
    let bob = create(&c, "bob@example.com", "Bob", "CTO", "k-bob").await;
    // POST /leads never de-duplicates: two leads share this e-mail.
    create(&c, "dup@example.com", "Dup One", "X", "k-dup1").await;
    create(&c, "dup@example.com", "Dup Two", "X", "k-dup2").await;
    sync_mirror(&c, &m).await;

    let file = tmp.path().join("people.csv");
    std::fs::write(
        &file,
        "Email,Name,Title\n\
         ada@example.com,Ada,Engineer\n\
         BOB@Example.com,Bob,CEO\n\
         new@example.com,New Person,Analyst\n\
         dup@example.com,Dup,X\n\
         not-an-email,Nobody,X\n\
         new@example.com,New Again,Analyst\n",
    )
    .unwrap();
    let id = stage(&imports, &file);

    // The default mode skips every e-mail the workspace has.
    let r = review(&imports, &m, &id, ImportMode::Create);
    let c0 = r.counts;
    assert_eq!(
        (c0.create, c0.skipped_exists, c0.invalid, c0.duplicate),
        (1, 3, 1, 1)
    );
    assert_eq!(
        c0.update + c0.unchanged + c0.ambiguous + c0.skipped_missing,
        0
    );
    assert_eq!(r.mirror.leads, 4);
    assert!(r.mirror.synced_at.is_some());

    // Reviewed again as "create and update", before anything is sent.
    let r = review(&imports, &m, &id, ImportMode::Upsert);
    let k = r.counts;
    assert_eq!(
        (
            k.create,
            k.update,
            k.unchanged,
            k.ambiguous,
            k.invalid,
            k.duplicate
        ),
        (1, 1, 1, 1, 1, 1)
    );
    assert_eq!(k.skipped_exists, 0);
    assert_eq!(imports.get(&id).unwrap().mode, ImportMode::Upsert);
    // The file's dry run counts the same classes (one rule, two passes).
    let pv = import::preview(None, &file, None, 0).unwrap();
    let dry = imports
        .review_file(
            &m,
            &file,
            None,
            &pv.mapping,
            ImportMode::Upsert,
            false,
            &|_: &ReadProgress| {},
            &CancellationToken::new(),
        )
        .unwrap();
    assert_eq!(dry.counts, k);
    assert_eq!(dry.import_id, None);

    // The table: filtered by class, with old → new per field and why a row is skipped.
    let updates = imports
        .review_rows(&id, Some(ReviewClass::Update), 0, 50)
        .unwrap();
    assert_eq!(updates.total, 1);
    let row = &updates.rows[0];
    assert_eq!((row.row_number, row.email.as_str()), (3, "BOB@Example.com"));
    assert_eq!(row.lead_id.as_deref(), Some(bob.as_str()));
    assert_eq!(row.changes.len(), 1);
    assert_eq!(row.changes[0].field, "job_title");
    assert_eq!(row.changes[0].old.as_deref(), Some("CTO"));
    assert_eq!(row.changes[0].new.as_deref(), Some("CEO"));
    let all = imports.review_rows(&id, None, 0, 50).unwrap();
    assert_eq!(all.total, 6);
    let ambiguous = all
        .rows
        .iter()
        .find(|r| r.class == ReviewClass::Ambiguous)
        .unwrap();
    assert!(ambiguous.reason.contains("several leads"), "{ambiguous:?}");
    let invalid = all
        .rows
        .iter()
        .find(|r| r.class == ReviewClass::Invalid)
        .unwrap();
    assert!(invalid.reason.contains("email"), "{invalid:?}");
    assert_eq!(
        invalid.email, "not-an-email",
        "the e-mail cell as the file holds it"
    );

    // Saved as a file: one line per row, formula-safe, with the changes spelled out.
    let saved = tmp.path().join("review.csv");
    assert_eq!(imports.write_review(&id, &saved).unwrap(), 6);
    let text = std::fs::read_to_string(&saved).unwrap();
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    assert_eq!(lines.next().unwrap(), REVIEW_COLUMNS.join(","));
    assert!(
        text.contains("3,update,BOB@Example.com,") && text.contains("job_title: “CTO” → “CEO”"),
        "{text}"
    );

    // Meanwhile someone adds the lead the review would create: the server's answer wins, and the
    // row says so.
    create(&c, "new@example.com", "Someone Else", "Analyst", "k-new").await;
    let done = run(&imports, &id).await;
    assert_eq!(done.status, "completed");
    let n = done.counts;
    assert_eq!((n.created, n.updated, n.failed), (0, 2, 0), "{n:?}");
    assert_eq!(
        n.skipped, 4,
        "unchanged, ambiguous, invalid and duplicate are not sent"
    );
    let server = common::server_leads(&c).await;
    assert_eq!(server.len(), 5, "nothing was created by the upsert");
    let bob_now = server.iter().find(|l| l.id == bob).unwrap();
    assert_eq!(bob_now.job_title.as_deref(), Some("CEO"));
    let success = tmp.path().join("ok.csv");
    import::write_success_file(&store, &id, &success).unwrap();
    let text = std::fs::read_to_string(&success).unwrap();
    assert!(
        text.lines().next().unwrap().ends_with(",result,note"),
        "{text}"
    );
    let new_row = text
        .lines()
        .find(|l| l.starts_with("new@example.com"))
        .unwrap();
    assert!(
        new_row.contains(
            ",updated,the server already had a lead with this e-mail (added after the review)"
        ),
        "{new_row}"
    );
    let bob_row = text
        .lines()
        .find(|l| l.starts_with("BOB@Example.com"))
        .unwrap();
    assert!(bob_row.ends_with(",updated,"), "{bob_row}");
    // A review once rows are sent is refused: the mode can no longer change.
    let refused = imports
        .review(
            &m,
            &id,
            ImportMode::Create,
            false,
            &CancellationToken::new(),
        )
        .unwrap_err();
    assert!(
        refused.message.contains("already started sending"),
        "{refused:?}"
    );

    // The same file imported again in the default mode creates nothing.
    sync_mirror(&c, &m).await;
    let again = stage(&imports, &file);
    let r = review(&imports, &m, &again, ImportMode::Create);
    assert_eq!(r.counts.create, 0);
    assert_eq!(r.counts.skipped_exists, 4);
    let done = run(&imports, &again).await;
    assert_eq!(done.counts.created + done.counts.updated, 0);
    assert_eq!(
        common::server_leads(&c).await.len(),
        5,
        "a re-import never duplicates"
    );

    // "Update existing only": the missing e-mail is skipped, the known one is patched by id.
    let upd = tmp.path().join("titles.csv");
    std::fs::write(
        &upd,
        "Email,Title\nbob@example.com,VP\nmissing@example.com,Nobody\nada@example.com,Engineer\n",
    )
    .unwrap();
    let uid = stage(&imports, &upd);
    let r = review(&imports, &m, &uid, ImportMode::Update);
    assert_eq!(
        (
            r.counts.update,
            r.counts.skipped_missing,
            r.counts.unchanged
        ),
        (1, 1, 1)
    );
    let done = run(&imports, &uid).await;
    assert_eq!((done.counts.updated, done.counts.created), (1, 0));
    let server = common::server_leads(&c).await;
    assert_eq!(server.len(), 5, "update-only never creates");
    assert!(!server.iter().any(|l| l.email == "missing@example.com"));
    assert_eq!(
        server
            .iter()
            .find(|l| l.id == bob)
            .unwrap()
            .job_title
            .as_deref(),
        Some("VP")
    );
    let report = tmp.path().join("errors.csv");
    import::write_error_report(&store, &uid, &report).unwrap();
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.contains("missing@example.com,Nobody,3,not_in_workspace,the workspace has no lead with the e-mail missing@example.com"),
        "{text}"
    );
    sb.shutdown().await;
}

/// Another workspace's mirror cannot review this workspace's import, and an import never
/// reviewed is not sent.
#[tokio::test]
async fn a_review_uses_only_the_workspaces_own_mirror() {
    let sb = common::sandbox_with(common::empty()).await;
    let (c, _) = common::client(&sb, &sb.keys.full);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data.sqlite")).unwrap();
    let other = Mirror::open(store.clone(), "ws_other", "other").unwrap();
    let imports = Imports::new(store.clone(), c.clone(), owner());
    let file = tmp.path().join("one.csv");
    std::fs::write(&file, "Email\na@example.com\n").unwrap();
    let id = stage(&imports, &file);
    let e = imports
        .review(
            &other,
            &id,
            ImportMode::Create,
            false,
            &CancellationToken::new(),
        )
        .unwrap_err();
    assert_eq!(e.code.as_str(), "wrong_workspace");
    // Never reviewed, so never sent.
    let e = imports
        .run(
            &id,
            &RunOptions::default(),
            &|_| {},
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "invalid_input");
    assert!(e.message.contains("has not been reviewed"), "{e:?}");
    assert!(common::server_leads(&c).await.is_empty());
    sb.shutdown().await;
}

/// A lead made with the single-lead form goes into the mirror at once, so a create-only import
/// reviewed before the next sync skips it instead of making it a second time.
#[tokio::test]
async fn a_lead_created_after_the_last_sync_is_skipped_by_the_next_review() {
    use pb2b_core::leads::{self, LeadSubmission};
    let sb = common::sandbox_with(common::empty()).await;
    let (c, _) = common::client(&sb, &sb.keys.full);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data.sqlite")).unwrap();
    let m = Mirror::open(store.clone(), WS, "default").unwrap();
    let imports = Imports::new(store.clone(), c.clone(), owner());
    create(&c, "old@example.com", "Old", "X", "k-old").await;
    sync_mirror(&c, &m).await;

    let form = NewLead {
        email: "fresh@example.com".into(),
        full_name: Some("Fresh Lead".into()),
        ..Default::default()
    };
    leads::create(&c, Some(&m), &LeadSubmission::new(form))
        .await
        .unwrap();

    let file = tmp.path().join("fresh.csv");
    std::fs::write(
        &file,
        "Email,Name\nfresh@example.com,Fresh Lead\nother@example.com,Other\n",
    )
    .unwrap();
    let id = stage(&imports, &file);
    let r = review(&imports, &m, &id, ImportMode::Create);
    assert_eq!((r.counts.create, r.counts.skipped_exists), (1, 1));
    run(&imports, &id).await;
    let fresh = common::server_leads(&c)
        .await
        .into_iter()
        .filter(|l| l.email == "fresh@example.com")
        .count();
    assert_eq!(fresh, 1, "the form's lead was not created again");
    sb.shutdown().await;
}

/// An empty sandbox, and this workspace's journal and mirror in a new data folder.
struct Fresh {
    sb: pb2b_sandbox::Sandbox,
    c: Client,
    tmp: tempfile::TempDir,
    store: Store,
    m: Mirror,
    imports: Imports,
}

impl Fresh {
    async fn new() -> Self {
        let sb = common::sandbox_with(common::empty()).await;
        let (c, _) = common::client(&sb, &sb.keys.full);
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("data.sqlite")).unwrap();
        let m = Mirror::open(store.clone(), WS, "default").unwrap();
        let imports = Imports::new(store.clone(), c.clone(), owner());
        Fresh {
            sb,
            c,
            tmp,
            store,
            m,
            imports,
        }
    }
}

/// A file of `Email,Name` rows `p<i>@example.com,Person <i>`, for `rows`.
fn people(
    dir: &std::path::Path,
    name: &str,
    rows: impl IntoIterator<Item = usize>,
) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut text = String::from("Email,Name\n");
    for i in rows {
        text.push_str(&format!("p{i}@example.com,Person {i}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn bulk() -> RunOptions {
    RunOptions {
        bulk: true,
        ..RunOptions::default()
    }
}

/// Sends a reviewed import to the end.
async fn sent(imports: &Imports, id: &str, options: RunOptions) -> import::ImportSummary {
    let done = imports
        .run(id, &options, &|_| {}, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(done.status, "completed", "{done:?}");
    done
}

/// Cancels a reviewed import before it sent anything: its error report lists the `exists` rows
/// the review skipped with that reason and the `cancelled` others, and nothing is pending.
fn cancel_before_sending(
    imports: &Imports,
    store: &Store,
    dir: &std::path::Path,
    id: &str,
    exists: usize,
    cancelled: usize,
) {
    let job = imports.cancel(id).unwrap();
    let all = (exists + cancelled) as u64;
    assert_eq!((job.counts.skipped, job.counts.pending), (all, 0));
    let report = dir.join(format!("cancelled-{id}.csv"));
    assert_eq!(import::write_error_report(store, id, &report).unwrap(), all);
    let text = std::fs::read_to_string(&report).unwrap();
    assert_eq!(text.matches(",exists,").count(), exists, "{text}");
    assert_eq!(text.matches(",cancelled,").count(), cancelled, "{text}");
}

/// Imports `file` into the workspace in bulk, then syncs the mirror.
async fn seed(c: &Client, imports: &Imports, m: &Mirror, file: &std::path::Path) -> u64 {
    let id = stage(imports, file);
    review(imports, m, &id, ImportMode::Create);
    let done = sent(imports, &id, bulk()).await;
    sync_mirror(c, m).await;
    done.counts.created
}

/// The rows a review does not send are left `pending` in the journal until a sender reaches
/// them, a cancel or an error report settles them, or another review decides them again; the
/// counts say "skipped" throughout, and the error report gives each one's reason. Every other
/// row of the file already exists, so the per-row pages (512) and the bulk jobs (1,000) each
/// pass skipped rows between the rows they claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_the_review_skips_are_settled_by_whatever_reaches_them_first() {
    let Fresh {
        sb,
        c,
        tmp,
        store,
        m,
        imports,
    } = Fresh::new().await;
    let write = |name: &str, rows: &mut dyn Iterator<Item = usize>| people(tmp.path(), name, rows);
    // The workspace has the even rows' leads.
    let file = write("seed.csv", &mut (0..2400).step_by(2));
    assert_eq!(seed(&c, &imports, &m, &file).await, 1200);

    let journal_skipped = |id: &str| -> i64 {
        store
            .with_conn(|c| {
                c.query_row(
                    "SELECT count(*) FROM import_rows WHERE import_id = ?1 AND state = 'skipped'",
                    [id],
                    |r| r.get(0),
                )
            })
            .unwrap()
    };
    let reviewed = |file: &std::path::Path, mode| {
        let id = stage(&imports, file);
        let r = review(&imports, &m, &id, mode);
        (id, r.counts)
    };

    // Sent per row and in bulk jobs: the same counts before and after, and every skipped row
    // journalled with its reason by the sender (other rows each time).
    let per_row = write("first.csv", &mut (0..1200));
    let in_bulk = write("second.csv", &mut (1200..2400));
    for (file, options) in [(&per_row, RunOptions::default()), (&in_bulk, bulk())] {
        let (id, k) = reviewed(file, ImportMode::Create);
        assert_eq!((k.create, k.skipped_exists), (600, 600));
        assert_eq!(journal_skipped(&id), 0, "the review rewrote no journal row");
        let before = imports.get(&id).unwrap().counts;
        assert_eq!((before.pending, before.skipped), (600, 600));
        let done = sent(&imports, &id, options).await;
        assert_eq!(
            (
                done.counts.created,
                done.counts.skipped,
                done.counts.pending
            ),
            (600, 600, 0),
            "bulk: {}",
            options.bulk
        );
        assert_eq!(journal_skipped(&id), 600);
        assert_eq!(imports.get(&id).unwrap().counts, done.counts);
        let report = tmp.path().join(format!("errors-{}.csv", options.bulk));
        assert_eq!(
            import::write_error_report(&store, &id, &report).unwrap(),
            600
        );
        let text = std::fs::read_to_string(&report).unwrap();
        let last = if options.bulk { 2398 } else { 1198 };
        assert!(
            text.contains(&format!("p{last}@example.com,Person {last},1200,exists,the workspace already has a lead with the e-mail p{last}@example.com")),
            "{text}"
        );
    }
    assert_eq!(common::server_leads(&c).await.len(), 2400);

    // The error report of an import not yet sent lists the skipped rows with why; reviewed
    // again as "create and update", they are decided anew (all unchanged).
    sync_mirror(&c, &m).await;
    let (id, _) = reviewed(&per_row, ImportMode::Create);
    let report = tmp.path().join("before.csv");
    assert_eq!(
        import::write_error_report(&store, &id, &report).unwrap(),
        1200
    );
    assert_eq!(journal_skipped(&id), 1200);
    let counts = imports.get(&id).unwrap().counts;
    assert_eq!((counts.pending, counts.skipped), (0, 1200));
    let k = review(&imports, &m, &id, ImportMode::Upsert).counts;
    assert_eq!((k.unchanged, k.create), (1200, 0));
    assert_eq!(
        journal_skipped(&id),
        0,
        "back to pending for the new review"
    );
    let counts = imports.get(&id).unwrap().counts;
    assert_eq!((counts.pending, counts.skipped), (0, 1200));
    let k = review(&imports, &m, &id, ImportMode::Update).counts;
    assert_eq!(k.unchanged, 1200);

    // Cancelled before sending: the skipped rows keep their reason, the others are cancelled.
    let new = write("new.csv", &mut (2400..2500).chain(0..100));
    let id = stage(&imports, &new);
    let k = review(&imports, &m, &id, ImportMode::Create).counts;
    assert_eq!((k.create, k.skipped_exists), (100, 100));
    cancel_before_sending(&imports, &store, tmp.path(), &id, 100, 100);
    assert_eq!(common::server_leads(&c).await.len(), 2400);
    sb.shutdown().await;
}

/// A run of skipped rows longer than one settling transaction holds (`SETTLE_ROWS`, 8,192)
/// before the rows to send: the per-row fetch and the bulk claim settle it in steps and still
/// send every row after it once, and a cancel settles it all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_of_skipped_rows_is_settled_in_steps() {
    let Fresh {
        sb,
        c,
        tmp,
        store,
        m,
        imports,
    } = Fresh::new().await;
    let write = |name: &str, rows: &mut dyn Iterator<Item = usize>| people(tmp.path(), name, rows);
    let file = write("seed.csv", &mut (0..9000));
    assert_eq!(seed(&c, &imports, &m, &file).await, 9000);

    for (n, options) in [(0, RunOptions::default()), (1, bulk()), (2, bulk())] {
        let file = write(
            &format!("run{n}.csv"),
            &mut (0..9000).chain(9000 + n * 10..9010 + n * 10),
        );
        let id = stage(&imports, &file);
        let k = review(&imports, &m, &id, ImportMode::Create).counts;
        assert_eq!((k.create, k.skipped_exists), (10, 9000));
        if n == 2 {
            cancel_before_sending(&imports, &store, tmp.path(), &id, 9000, 10);
            continue;
        }
        let done = sent(&imports, &id, options).await;
        assert_eq!(
            (
                done.counts.created,
                done.counts.skipped,
                done.counts.pending
            ),
            (10, 9000, 0),
            "bulk: {}",
            options.bulk
        );
    }
    assert_eq!(common::server_leads(&c).await.len(), 9020);
    sb.shutdown().await;
}
