//! A question before what cannot be undone (deleting a webhook endpoint, forgetting a profile,
//! rotating a signing secret):
//!
//! | `--yes` | standard input and error are a terminal | what happens                              |
//! |---------|-----------------------------------------|-------------------------------------------|
//! | given   | either                                  | goes on without asking                    |
//! | absent  | yes                                     | asks `… [y/N]`; only `y` or `yes` goes on; anything else changes nothing (`cancelled`, exit 130) |
//! | absent  | no (a script, a pipe, cron)             | refused before anything is sent (`invalid_input`, exit 2), naming `--yes` |
//!
//! A script must say `--yes` on purpose: an unattended run never deletes by default.

use std::io::{BufRead, IsTerminal, Write};

use pb2b_core::error::{codes, Code, ErrorReport};

/// Asks `question` (e.g. "Delete endpoint wh_1?") unless `yes`; `Ok(())` means go on.
pub fn confirm(question: &str, yes: bool) -> Result<(), ErrorReport> {
    if yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(ErrorReport::local(
            codes::INVALID_INPUT,
            format!("{question} This cannot be undone, and there is no terminal to ask on: pass --yes to confirm."),
            false,
        ));
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question} This cannot be undone. [y/N] ");
    let _ = err.flush();
    drop(err);
    let mut answer = String::new();
    let read = std::io::stdin().lock().read_line(&mut answer);
    if read.is_ok() && matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        return Ok(());
    }
    Err(ErrorReport::local(
        Code::Cancelled,
        "Nothing was changed.",
        false,
    ))
}
