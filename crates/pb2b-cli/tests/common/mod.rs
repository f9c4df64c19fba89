//! What every `pb2b` process test needs: the binary with a key and a data folder, its output
//! without blocking the runtime, its `--json` answer, and the sandbox's counts.
#![allow(dead_code)] // each test file uses some of these

use std::path::Path;
use std::process::{Command, Output, Stdio};

use pb2b_sandbox::Sandbox;
use serde_json::Value;

/// `pb2b` with `key` against `sb`, its data in `data`, no standard input.
pub fn pb2b_as(key: &str, sb: &Sandbox, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.env("PB2B_API_KEY", key)
        .env("PB2B_BASE_URL", &sb.base_url)
        .env("PB2B_DATA_DIR", data)
        .env_remove("PB2B_SYNC_CRASH_AFTER_PAGES")
        .stdin(Stdio::null());
    cmd
}

/// `pb2b` with the sandbox's full-access key.
pub fn pb2b(sb: &Sandbox, data: &Path) -> Command {
    pb2b_as(&sb.keys.full, sb, data)
}

/// Runs `cmd` to the end on the blocking pool.
pub async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("pb2b runs"))
        .await
        .unwrap()
}

/// The `--json` answer on standard output.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A count from the sandbox's `/_sandbox/state` (`leads`, `exports`, ...).
pub async fn server_count(sb: &Sandbox, what: &str) -> u64 {
    let v: Value = reqwest::Client::new()
        .get(format!("{}/state", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"][what].as_u64().unwrap()
}
