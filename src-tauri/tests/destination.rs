//! The Sync screen's PostgreSQL destination through the app's IPC on the mock runtime, against the
//! sandbox over HTTP, the real OS keychain and a real PostgreSQL (`scripts/with-postgres`, whose
//! cluster asks members of `pb2b_password_login` for their password): save a destination with a
//! password, test the connection, sync, verify and repair; the password is nowhere in the data
//! folder and never in an IPC answer.

use crate::support::{app, invoke};
use serde_json::{json, Value};
use tauri::async_runtime::block_on;

fn pg_url() -> String {
    std::env::var("PB2B_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "PB2B_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server. Run it through \
             scripts/with-postgres inside a keychain session (see scripts/test-in-session.sh)."
        )
    })
}

/// A superuser connection for the test's own setup and checks.
async fn raw() -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .expect("connect as the cluster's superuser");
    tokio::spawn(conn);
    c
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_postgres_destination_keeps_its_password_in_the_keychain_and_syncs_and_verifies() {
    let tag = format!("{:08x}", fastrand_u32());
    let user = format!("app_{tag}");
    let password = format!("pw-{tag}-Secret!");
    let schema = format!("app_{tag}");
    let pg = block_on(raw());
    block_on(pg.batch_execute(&format!(
        "DO $$ BEGIN CREATE ROLE pb2b_password_login NOLOGIN;
           EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
         CREATE ROLE {user} LOGIN PASSWORD '{password}' IN ROLE pb2b_password_login;
         GRANT CREATE ON DATABASE postgres TO {user};"
    )))
    .expect("a role that must give its password");
    // postgres://postgres@127.0.0.1:PORT/postgres → the test's user, no password.
    let url = pg_url().replacen("postgres@", &format!("{user}@"), 1);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sandbox = block_on(pb2b_sandbox::start(Default::default())).unwrap();
    let app = app(data.clone());
    let mut answers: Vec<String> = Vec::new();
    let mut call = |cmd: &str, body: Value| {
        let r = invoke(&app, cmd, body);
        answers.push(match &r {
            Ok(v) | Err(v) => v.to_string(),
        });
        r
    };
    call(
        "save_profile",
        json!({"name": "Team", "baseUrl": sandbox.base_url, "key": sandbox.keys.full, "replace": false}),
    )
    .expect("connected to the sandbox");

    let chosen = call("sync_destination", json!({})).unwrap();
    assert_eq!(chosen["destination"], json!({"kind": "this_computer"}));
    // This computer: the mirror's card only.
    assert_eq!(call("sync_destination_status", json!({})), Ok(Value::Null));

    // A password inside the connection string is refused, so it never lands in preferences.
    let with_pw = url.replacen(&format!("{user}@"), &format!("{user}:{password}@"), 1);
    let dest_with_pw = json!({"kind": "postgres", "url": with_pw, "schema": schema});
    let err = call(
        "set_sync_destination",
        json!({"destination": dest_with_pw, "password": ""}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "invalid_input", "{err}");
    assert!(err["message"].as_str().unwrap().contains("Password field"));

    let dest = json!({"kind": "postgres", "url": url, "schema": schema});
    // Test connection: a wrong password names the remedy; the right one answers the version.
    let err = call(
        "test_sync_destination",
        json!({"destination": dest, "password": "not-the-password"}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "destination_error", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("password"), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");
    let version = call(
        "test_sync_destination",
        json!({"destination": dest, "password": password}),
    )
    .expect("the right password connects");
    assert!(
        version.as_str().unwrap().starts_with("PostgreSQL"),
        "{version}"
    );
    // Nothing saved yet: an empty field means "the saved one", and there is none.
    let err = call(
        "test_sync_destination",
        json!({"destination": dest, "password": ""}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "destination_error", "{err}");

    let saved = call(
        "set_sync_destination",
        json!({"destination": dest, "password": password}),
    )
    .expect("saved");
    assert_eq!(saved["destination"], dest);
    assert_eq!(saved["password_saved"], true);
    assert!(saved["label"].as_str().unwrap().contains(&schema));
    // Saved: the empty field uses the keychain's password.
    call(
        "test_sync_destination",
        json!({"destination": dest, "password": ""}),
    )
    .expect("the saved password connects");
    // Saving again without a password keeps the saved one.
    let again = call(
        "set_sync_destination",
        json!({"destination": dest, "password": ""}),
    )
    .unwrap();
    assert_eq!(again["password_saved"], true);

    // Sync now goes to PostgreSQL (the job `sync`, one at a time).
    let report = call(
        "sync_now",
        json!({"options": {"mode": {"mode": "full"}}, "onProgress": "__CHANNEL__:7"}),
    )
    .expect("synced into PostgreSQL");
    assert_eq!(report["outcome"], "completed", "{report}");
    let leads = report["progress"]["leads"].as_u64().unwrap();
    assert!(leads > 0, "{report}");
    let in_pg: i64 = block_on(pg.query_one(&format!("SELECT count(*) FROM {schema}.leads"), &[]))
        .unwrap()
        .get(0);
    assert_eq!(in_pg as u64, leads);
    // Its card says what its sync state row says.
    let status = call("sync_destination_status", json!({})).unwrap();
    assert_eq!(status["total_leads"].as_u64(), Some(leads), "{status}");
    assert_eq!(status["last_outcome"], "completed", "{status}");
    assert_eq!(status["running"], false, "{status}");
    // ... and not to this computer's mirror.
    let local = call("sync_status", json!({})).unwrap();
    assert_eq!(local["total_leads"], 0, "{local}");

    let verified = call(
        "sync_verify",
        json!({"repair": false, "onProgress": "__CHANNEL__:8"}),
    )
    .unwrap();
    assert_eq!(verified["equal"], true, "{verified}");
    assert_eq!(verified["server_leads"].as_u64(), Some(leads));
    assert_eq!(verified["destination_leads"].as_u64(), Some(leads));

    // A row lost in PostgreSQL: Verify names the range, Repair restores it.
    block_on(pg.batch_execute(&format!(
        "DELETE FROM {schema}.leads WHERE id = (SELECT min(id) FROM {schema}.leads)"
    )))
    .unwrap();
    let differs = call(
        "sync_verify",
        json!({"repair": false, "onProgress": "__CHANNEL__:8"}),
    )
    .unwrap();
    assert_eq!(differs["equal"], false, "{differs}");
    assert_eq!(differs["destination_leads"].as_u64(), Some(leads - 1));
    let first = &differs["differing"][0];
    assert_eq!(
        first["server_leads"].as_u64().unwrap(),
        first["destination_leads"].as_u64().unwrap() + 1
    );
    let repaired = call(
        "sync_verify",
        json!({"repair": true, "onProgress": "__CHANNEL__:8"}),
    )
    .unwrap();
    assert_eq!(repaired["equal"], true, "{repaired}");
    assert!(repaired["repaired"].as_u64().unwrap() >= 1);
    let in_pg: i64 = block_on(pg.query_one(&format!("SELECT count(*) FROM {schema}.leads"), &[]))
        .unwrap()
        .get(0);
    assert_eq!(in_pg as u64, leads);

    // The password is in the keychain, under the profile and database's account.
    let keychain = pb2b_core::secret::OsKeychain::new(pb2b_app::APP_IDENTIFIER);
    let account = format!("postgres:Team:{}", url.trim_start_matches("postgres://"));
    use pb2b_core::secret::KeyStore;
    assert_eq!(
        keychain.get(&account).unwrap().map(|p| p.expose().clone()),
        Some(password.clone())
    );

    // Renaming the profile moves its destination and the password's keychain entry.
    call("rename_profile", json!({"from": "Team", "to": "Crew"})).expect("renamed");
    let renamed = call("sync_destination", json!({})).unwrap();
    assert_eq!(renamed["destination"], dest);
    assert_eq!(renamed["password_saved"], true, "{renamed}");
    assert!(keychain.get(&account).unwrap().is_none());
    let account = format!("postgres:Crew:{}", url.trim_start_matches("postgres://"));
    assert!(keychain.get(&account).unwrap().is_some());
    let report = call(
        "sync_now",
        json!({"options": {}, "onProgress": "__CHANNEL__:9"}),
    )
    .expect("syncs with the moved password");
    assert_eq!(report["outcome"], "completed", "{report}");

    // Back to this computer: the database's password is forgotten.
    let local = call(
        "set_sync_destination",
        json!({"destination": {"kind": "this_computer"}, "password": ""}),
    )
    .unwrap();
    assert_eq!(local["password_saved"], false);
    assert!(keychain.get(&account).unwrap().is_none());
    let report = call(
        "sync_now",
        json!({"options": {}, "onProgress": "__CHANNEL__:8"}),
    )
    .unwrap();
    assert_eq!(report["outcome"], "completed");
    let local = call("sync_status", json!({})).unwrap();
    assert_eq!(local["total_leads"].as_u64(), Some(leads), "{local}");

    // Forgetting the profile forgets its destination and the database's password.
    call(
        "set_sync_destination",
        json!({"destination": dest, "password": password}),
    )
    .unwrap();
    assert!(keychain.get(&account).unwrap().is_some());
    call("forget_profile", json!({"name": "Crew"})).expect("forgotten");
    assert!(keychain.get(&account).unwrap().is_none());

    drop(app);
    block_on(sandbox.shutdown());
    // Nowhere on disk (preferences, settings, SQLite and its journal, logs), never over IPC.
    let everything = files(dir.path());
    assert!(everything.iter().any(|f| f.ends_with("preferences.json")));
    assert!(everything.iter().any(|f| f.ends_with("settings.json")));
    for file in everything {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "the password is in {}",
            file.display()
        );
    }
    let prefs: Value =
        serde_json::from_slice(&std::fs::read(data.join("preferences.json")).unwrap()).unwrap();
    assert_eq!(prefs["sync_destinations"], json!({}), "{prefs}");
    for answer in &answers {
        assert!(
            !answer.contains(&password),
            "an IPC answer holds the password: {answer}"
        );
    }
    block_on(pg.batch_execute(&format!("DROP SCHEMA {schema} CASCADE; REASSIGN OWNED BY {user} TO postgres; DROP OWNED BY {user}; DROP ROLE {user};")))
        .unwrap();
}

/// A random tag without a dependency: the clock's nanoseconds and the process id.
fn fastrand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}
