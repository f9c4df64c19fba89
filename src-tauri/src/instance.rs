//! One app per data folder (issue 14, item 9): a second launch on the same data folder brings the
//! running app's window to the front and exits, so interval sync and export polling never run
//! twice against one database. Apps on different data folders (other users, the E2E tests' own
//! folders) run side by side.
//!
//! | rule | how |
//! |------|-----|
//! | who is first | the process that holds the OS advisory lock on `<data folder>/app-instance.lock` (`File::try_lock`: it dies with the process, so a crashed app never blocks the next launch) |
//! | how a later launch reaches it | the first listens on `127.0.0.1:<random port>` and writes the port and a random token to `<data folder>/app-instance.json` (`0600`, in the user's own folder) |
//! | what a later launch does | connects, sends the token and its arguments (one JSON line), waits for `ok`, exits with status 0 without opening a window |
//! | what the first does | checks the token, then shows, unminimizes and focuses its main window; the arguments are logged (by count) and otherwise ignored: `--sandbox` only matters at start |
//! | the data folder | the one Tauri's `app_data_dir` resolves to (`dirs::data_dir()/<identifier>`) |
//!
//! Nothing here knows Tauri: [`claim`] and the [`Primary`]'s `serve(on_launch)` are tested
//! without a window; `lib.rs` passes an `on_launch` that focuses the window.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

const LOCK_FILE: &str = "app-instance.lock";
const INFO_FILE: &str = "app-instance.json";
/// How long a later launch waits for the first to write its address or to answer.
const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
struct Info {
    pid: u32,
    port: u16,
    token: String,
}

/// The outcome of [`claim`].
pub enum Claim {
    /// This process is the data folder's app: keep the value for the life of the app.
    First(Primary),
    /// Another app has this data folder; it was asked to come to the front.
    Running,
}

/// The first app's lock and listener.
pub struct Primary {
    _lock: File,
    listener: TcpListener,
    token: String,
    info: PathBuf,
}

fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Becomes the data folder's app, or asks the running one to come to the front (passing `args`).
/// An error (a folder that cannot be written) means no single-instance guard: the caller runs
/// anyway, as before.
pub fn claim(data_dir: &Path, args: &[String]) -> std::io::Result<Claim> {
    pb2b_core::private_fs::create_dir_all(data_dir)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(LOCK_FILE))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            notify(data_dir, args)?;
            return Ok(Claim::Running);
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let info = Info {
        pid: std::process::id(),
        port: listener.local_addr()?.port(),
        token: random_token()?,
    };
    let path = data_dir.join(INFO_FILE);
    let tmp = data_dir.join(format!("{INFO_FILE}.{}", std::process::id()));
    pb2b_core::private_fs::create_file(&tmp)?.write_all(&serde_json::to_vec(&info)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(Claim::First(Primary {
        _lock: lock,
        listener,
        token: info.token,
        info: path,
    }))
}

/// Hands `args` to the running app: waits for its address (it may be starting this instant),
/// then for its `ok`.
fn notify(data_dir: &Path, args: &[String]) -> std::io::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    let mut last_error;
    loop {
        last_error = match std::fs::read(data_dir.join(INFO_FILE))
            .and_then(|b| serde_json::from_slice::<Info>(&b).map_err(std::io::Error::other))
        {
            Ok(info) => match send(&info, args) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            },
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(last_error);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn send(info: &Info, args: &[String]) -> std::io::Result<()> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, info.port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    let line = serde_json::to_string(&(info.token.as_str(), args))?;
    stream.write_all(format!("{line}\n").as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    if answer.trim() == "ok" {
        Ok(())
    } else {
        Err(std::io::Error::other("the running app did not answer"))
    }
}

impl Primary {
    /// Answers later launches on a background thread for the life of the process:
    /// `on_launch(args)` runs for each one that presents the token.
    pub fn serve(self, on_launch: impl Fn(Vec<String>) + Send + 'static) {
        std::thread::Builder::new()
            .name("single-instance".into())
            .spawn(move || {
                let _keep = &self;
                for stream in self.listener.incoming().flatten() {
                    let _ = stream.set_read_timeout(Some(PATIENCE));
                    let mut reader = BufReader::new(&stream).take(64 * 1024);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        continue;
                    }
                    let Ok((token, args)) = serde_json::from_str::<(String, Vec<String>)>(&line)
                    else {
                        continue;
                    };
                    if token != self.token {
                        continue;
                    }
                    on_launch(args);
                    let _ = (&stream).write_all(b"ok\n");
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::warn!(error = %e, "single-instance listener not started"));
    }
}

impl Drop for Primary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info);
    }
}
