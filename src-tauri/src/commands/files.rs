//! Files the app makes for the user: asking where with the native save dialog, and "Show in
//! folder". Every rule (the default folder, proposed names, the forced extension, writing
//! atomically, which paths may be revealed) is `pb2b_core::saved_files`'s; this is the dialog
//! and the opener only.

use std::path::{Path, PathBuf};

use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::saved_files::{self, Choice, SaveProposal, SavedFormat};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;
use tauri_plugin_opener::OpenerExt;

use super::blocking;
use crate::state::AppState;

/// Where the save dialog opens: Downloads, or the data folder's `exports/` without one.
pub(crate) fn default_dir(state: &AppState) -> PathBuf {
    saved_files::default_dir(|| state.data_dir.join("exports"))
}

/// Asks where to save with the native dialog (blocking: call it on the blocking pool). `None`
/// when the user cancels. A name the extension rule changes onto an existing file is asked again
/// ([`Choice::AskAgain`]), so only the dialog's own confirmation ever lets a file be replaced.
pub(crate) fn ask_where<R: Runtime>(
    app: &AppHandle<R>,
    mut proposal: SaveProposal,
) -> Option<PathBuf> {
    loop {
        // The folder may not exist yet (the data folder's `exports/` when there is no Downloads
        // folder): made the user's alone, as the data folder is. If it cannot be made, the
        // dialog opens in its own default folder.
        let _ = pb2b_core::private_fs::create_dir_all(&proposal.dir);
        let chosen = app
            .dialog()
            .file()
            .set_title(&proposal.title)
            .set_directory(&proposal.dir)
            .set_file_name(&proposal.file_name)
            .add_filter(
                proposal.format.filter_name(),
                &[proposal.format.extension()],
            )
            .set_can_create_directories(true)
            .blocking_save_file()?
            .into_path()
            .ok()?;
        match saved_files::resolve_choice(&proposal, &chosen) {
            Choice::Write(path) => return Some(path),
            Choice::AskAgain(again) => proposal = again,
        }
    }
}

/// Asks where (`proposal`), then writes there with `write` (which must write through
/// `saved_files::write_atomically`) and records the file for "Show in folder". `Ok(None)` when
/// the user cancelled: nothing was written.
pub(crate) async fn save_as<R: Runtime, T: Send + 'static>(
    app: &AppHandle<R>,
    proposal: SaveProposal,
    write: impl FnOnce(&Path) -> Result<T, ErrorReport> + Send + 'static,
) -> Result<Option<(PathBuf, T)>, ErrorReport> {
    let format = proposal.format;
    let asking = app.clone();
    let Some(path) = blocking(move || Ok(ask_where(&asking, proposal))).await? else {
        return Ok(None);
    };
    let p = path.clone();
    let value = blocking(move || write(&p)).await?;
    record(app, &path, format);
    Ok(Some((path, value)))
}

fn record<R: Runtime>(app: &AppHandle<R>, path: &Path, format: SavedFormat) {
    use tauri::Manager;
    app.state::<AppState>().made_files.record(path, format);
}

/// Shows `path` selected in the file manager (org.freedesktop.FileManager1.ShowItems on Linux,
/// Finder, Explorer).
pub(crate) fn reveal<R: Runtime>(app: &AppHandle<R>, path: &Path) -> Result<(), ErrorReport> {
    app.opener().reveal_item_in_dir(path).map_err(|err| {
        ErrorReport::local(
            codes::INTERNAL,
            format!(
                "No file manager could show {}: {err}. The file is there; open its folder \
                 yourself.",
                path.display()
            ),
            true,
        )
    })
}

/// "Show in folder" for a file this app saved since it started (a report, a mirror export, a
/// support bundle); any other path is refused (`saved_files::MadeFiles::revealable`).
#[tauri::command]
pub async fn reveal_file<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    path: String,
) -> Result<(), ErrorReport> {
    let path = state.made_files.revealable(&path)?;
    blocking(move || reveal(&app, &path)).await
}
