//! The CLI on a real terminal (a pseudo-terminal from Python's `pty`) and off one: questions
//! before what cannot be undone, progress bars only on a terminal (plain lines in a pipe),
//! `NO_COLOR`, and shell completions.

mod common;

use std::process::Command;

use pb2b_sandbox::SandboxConfig;
use serde_json::Value;

/// Runs argv[0..] on a pseudo-terminal with the environment given as JSON; when `expect` shows
/// up on the screen, types `answer` and Enter. Prints the screen and the exit code as JSON.
const DRIVER: &str = r#"
import json, os, pty, sys, time
env, expect, answer = json.loads(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
argv = sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.environ.update(env)
    os.execv(argv[0], argv)
out = b""
answered = not expect
deadline = time.time() + 120
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not answered and expect in out:
        os.write(fd, answer.encode() + b"\n")
        answered = True
_, status = os.waitpid(pid, 0)
print(json.dumps({"answered": answered, "screen": out.decode("utf-8", "replace"), "code": os.waitstatus_to_exitcode(status)}))
"#;

struct Screen {
    answered: bool,
    text: String,
    code: i64,
}

/// `pb2b args…` on a pseudo-terminal, with `env`, answering `answer` to a screen showing
/// `expect` (empty: no question expected).
async fn on_terminal(env: &[(&str, &str)], expect: &str, answer: &str, args: &[&str]) -> Screen {
    let env: serde_json::Map<String, Value> = env
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(DRIVER)
        .arg(Value::Object(env).to_string())
        .arg(expect)
        .arg(answer)
        .arg(env!("CARGO_BIN_EXE_pb2b"))
        .args(args)
        .env_remove("NO_COLOR");
    let out = common::output(cmd).await;
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Screen {
        answered: v["answered"].as_bool().unwrap(),
        text: v["screen"].as_str().unwrap().to_owned(),
        code: v["code"].as_i64().unwrap(),
    }
}

async fn endpoint_ids(sb: &pb2b_sandbox::Sandbox, data: &std::path::Path) -> Vec<String> {
    let mut cmd = common::pb2b(sb, data);
    cmd.args(["webhooks", "list", "--json"]);
    let out = common::output(cmd).await;
    assert!(out.status.success(), "{out:?}");
    common::json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_is_asked_before_a_delete_and_only_yes_deletes() {
    let sb = pb2b_sandbox::start(SandboxConfig::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut create = common::pb2b(&sb, data);
    create.args([
        "webhooks",
        "create",
        "--url",
        "http://127.0.0.1:9/hook",
        "--events",
        "lead.created",
        "--json",
    ]);
    let created = common::output(create).await;
    assert!(created.status.success(), "{created:?}");
    let id = common::json(&created)["endpoint"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&created.stdout)))
        .to_owned();

    let env = [
        ("PB2B_API_KEY", sb.keys.full.as_str()),
        ("PB2B_BASE_URL", sb.base_url.as_str()),
        ("PB2B_DATA_DIR", data.to_str().unwrap()),
    ];
    // Anything but y/yes keeps it: the default is No.
    let kept = on_terminal(&env, "[y/N]", "n", &["webhooks", "delete", &id]).await;
    assert!(kept.answered, "no question was asked: {}", kept.text);
    assert!(kept.text.contains(&id), "{}", kept.text);
    assert_eq!(kept.code, 130, "{}", kept.text);
    assert!(kept.text.contains("Nothing was changed"), "{}", kept.text);
    assert_eq!(endpoint_ids(&sb, data).await, vec![id.clone()]);

    let gone = on_terminal(&env, "[y/N]", "y", &["webhooks", "delete", &id]).await;
    assert!(gone.answered, "{}", gone.text);
    assert_eq!(gone.code, 0, "{}", gone.text);
    assert!(endpoint_ids(&sb, data).await.is_empty());
    sb.shutdown().await;
}

/// A CSV of `rows` leads with unique e-mails.
fn csv(dir: &std::path::Path, rows: usize) -> std::path::PathBuf {
    let path = dir.join("leads.csv");
    let mut text = String::from("email,first_name,last_name,company\n");
    for i in 0..rows {
        text.push_str(&format!("p{i}@progress.example,Ada,Row{i},Acme\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_a_bar_on_a_terminal_and_plain_lines_in_a_pipe() {
    // Slow enough answers that the import is on screen for a while.
    let sb = pb2b_sandbox::start(SandboxConfig {
        latency_ms: 25,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = csv(tmp.path(), 120);
    let file_arg = file.to_str().unwrap();
    let env = [
        ("PB2B_API_KEY", sb.keys.full.as_str()),
        ("PB2B_BASE_URL", sb.base_url.as_str()),
        ("PB2B_DATA_DIR", data.to_str().unwrap()),
    ];
    let args = ["import", file_arg, "--concurrency", "2"];

    // On a terminal: a bar redrawn in place, in colour.
    let tty = on_terminal(&env, "", "", &args).await;
    assert_eq!(tty.code, 0, "{}", tty.text);
    assert!(tty.text.contains("/120"), "no bar: {}", tty.text);
    assert!(
        tty.text.contains('\r') || tty.text.contains("\x1b[2K"),
        "not redrawn in place: {}",
        tty.text
    );
    assert!(
        tty.text.contains("\x1b[36m"),
        "no colour on a terminal: {}",
        tty.text
    );
    assert!(tty.text.contains("120 created"), "{}", tty.text);

    // NO_COLOR: the same bar, without colour.
    let mut no_colour = env.to_vec();
    no_colour.push(("NO_COLOR", "1"));
    let file2 = tmp.path().join("more.csv");
    std::fs::write(
        &file2,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("@progress", "@nocolour"),
    )
    .unwrap();
    let plain = on_terminal(&no_colour, "", "", &["import", file2.to_str().unwrap()]).await;
    assert_eq!(plain.code, 0, "{}", plain.text);
    assert!(plain.text.contains("/120"), "no bar: {}", plain.text);
    assert!(
        !plain.text.contains("\x1b[3"),
        "colour despite NO_COLOR: {:?}",
        plain.text
    );

    // In a pipe (a log file, cron): whole lines only, no carriage returns or escapes, and the
    // last state is there.
    let file3 = tmp.path().join("piped.csv");
    std::fs::write(
        &file3,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("@progress", "@piped"),
    )
    .unwrap();
    let mut cmd = common::pb2b(&sb, &data);
    cmd.args(["import", file3.to_str().unwrap()]);
    let piped = common::output(cmd).await;
    assert!(piped.status.success(), "{piped:?}");
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    assert!(err.lines().any(|l| l.starts_with("120/120 rows")), "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn bash_completes_commands_and_every_shell_gets_a_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pb2b"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["import", "webhooks", "exports", "profile"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    // bash really completes with it: `pb2b imp<Tab>` and `pb2b webhooks del<Tab>`.
    let probe = format!(
        r#"source <("{bin}" completions bash)
complete -p pb2b >/dev/null || exit 3
COMP_WORDS=(pb2b imp); COMP_CWORD=1; COMP_LINE="pb2b imp"; COMP_POINT=${{#COMP_LINE}}
_pb2b pb2b imp pb2b; echo "1:${{COMPREPLY[*]}}"
COMP_WORDS=(pb2b webhooks del); COMP_CWORD=2; COMP_LINE="pb2b webhooks del"; COMP_POINT=${{#COMP_LINE}}
_pb2b pb2b del webhooks; echo "2:${{COMPREPLY[*]}}""#,
        bin = env!("CARGO_BIN_EXE_pb2b")
    );
    let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1:import"), "{text}");
    let second = text
        .lines()
        .find_map(|l| l.strip_prefix("2:"))
        .unwrap_or("");
    let mut words: Vec<&str> = second.split_whitespace().collect();
    words.sort();
    assert_eq!(words, ["delete", "deliveries"], "{text}");
}
