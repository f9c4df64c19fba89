//! `pb2b leads update ID --field k=v`, one real process per case against the sandbox: the
//! changed fields are saved and printed old → new, `--json` gives the core's answer, an invalid
//! value is refused before sending (exit 2), an unknown id says so (exit 2), a read-only key
//! says why (exit 3), and the local mirror's row takes the server's answer.

mod common;

use common::{json, output, pb2b, pb2b_as};
use pb2b_sandbox::SandboxConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_saves_changed_fields_and_exits_by_class() {
    let sb = pb2b_sandbox::start(SandboxConfig::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let created = output({
        let mut c = pb2b(&sb, &data);
        c.args([
            "--json",
            "leads",
            "create",
            "--email",
            "cli.edit@example.com",
            "--full-name",
            "Ada Lovelace",
            "--field",
            "phone=+44 1",
        ]);
        c
    })
    .await;
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    let id = json(&created)["lead"]["id"].as_str().unwrap().to_owned();

    // A sync first, so the mirror has the row the update then rewrites.
    let synced = output({
        let mut c = pb2b(&sb, &data);
        c.args(["--json", "sync"]);
        c
    })
    .await;
    assert_eq!(synced.status.code(), Some(0), "{synced:?}");

    let updated = output({
        let mut c = pb2b(&sb, &data);
        c.args([
            "leads",
            "update",
            &id,
            "--field",
            "job_title=CTO",
            "--field",
            "phone=",
        ]);
        c
    })
    .await;
    assert_eq!(updated.status.code(), Some(0), "{updated:?}");
    let text = String::from_utf8_lossy(&updated.stdout);
    assert!(text.contains(&format!("updated lead {id}")), "{text}");
    assert!(text.contains("job_title: (empty) → CTO"), "{text}");
    assert!(text.contains("phone: +44 1 → (empty)"), "{text}");

    // The mirror shows it without a sync.
    let listed = output({
        let mut c = pb2b(&sb, &data);
        c.args(["--json", "leads", "list", "--local", "--search", "cli.edit"]);
        c
    })
    .await;
    let listed = json(&listed);
    let row = listed.to_string();
    assert!(row.contains("\"job_title\":\"CTO\""), "{row}");

    // The same values again: nothing sent, said so, --json has no changes.
    let same = output({
        let mut c = pb2b(&sb, &data);
        c.args(["--json", "leads", "update", &id, "--field", "job_title=CTO"]);
        c
    })
    .await;
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    assert_eq!(json(&same)["changed"], serde_json::json!([]));
    assert_eq!(json(&same)["lead"]["job_title"], "CTO");

    // Refused before sending: exit 2, the field named.
    let bad = output({
        let mut c = pb2b(&sb, &data);
        c.args(["--json", "leads", "update", &id, "--field", "email=nope"]);
        c
    })
    .await;
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert_eq!(json(&bad)["error"]["code"], "invalid_input");
    assert!(json(&bad)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("email"));

    // An unknown id: 404, exit 2, with what to do.
    let missing = output({
        let mut c = pb2b(&sb, &data);
        c.args([
            "--json",
            "leads",
            "update",
            "lead_00000000000000000000000000",
            "--field",
            "job_title=X",
        ]);
        c
    })
    .await;
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let err = &json(&missing)["error"];
    assert_eq!(err["code"], "not_found");
    assert!(err["message"].as_str().unwrap().contains("pb2b leads list"));

    // A read-only key: 403 read_only_key, exit 3, and why.
    let ro = output({
        let mut c = pb2b_as(&sb.keys.read_only, &sb, &data);
        c.args(["--json", "leads", "update", &id, "--field", "job_title=X"]);
        c
    })
    .await;
    assert_eq!(ro.status.code(), Some(3), "{ro:?}");
    let err = &json(&ro)["error"];
    assert_eq!(err["code"], "read_only_key");
    assert!(err["message"].as_str().unwrap().contains("read-only"));
    sb.shutdown().await;
}
