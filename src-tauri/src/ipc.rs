//! The app's IPC surface in one place: every command the UI can invoke (with the arguments and
//! the answer the UI sees) and every event the app emits (name and payload).
//!
//! [`commands!`] is the one list of commands. It feeds `tauri::generate_handler!` in `lib.rs` and
//! [`commands_ts`], which renders `ui/src/bindings/commands.ts`: one typed function per command.
//! [`AppEvent`] is the one list of events; every emit goes through [`AppEvent::emit`] and
//! [`events_ts`] renders `ui/src/bindings/events.ts`. The bindings test (`cargo test --test app
//! bindings`) fails when either file is stale, and when an entry of the list disagrees with its
//! command's signature in the source; `UPDATE_BINDINGS=1 cargo test --test app bindings` rewrites
//! the files.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::path::PathBuf;

use tauri::ipc::Channel;
use tauri::{Emitter, Runtime};
use ts_rs::{Config, TypeVisitor, TS};

use pb2b_core::api::{Lead, NewLead};
use pb2b_core::diagnostics::Diagnostics;
use pb2b_core::error::ErrorReport;
use pb2b_core::exports::{ExportEvent, ExportJob};
use pb2b_core::import::review::ReviewPage;
use pb2b_core::import::{
    ImportJob, ImportMode, ImportProgress, ImportReview, ImportSummary, Mapping, Preview,
    ReviewClass,
};
use pb2b_core::leads::{CreatedLead, EditOutcome, FieldError, LeadEdit, LeadSubmission};
use pb2b_core::overview::Overview;
use pb2b_core::saved_files::ResultsKind;
use pb2b_core::secret::{SecretString, Sensitive};
use pb2b_core::session::{ConnectionStatus, KeyCheck};
use pb2b_core::store::{LogFilter, LoggedRequest};
use pb2b_core::sync::chosen::{SyncDestination, SyncDestinationView};
use pb2b_core::sync::schedule::SyncSchedule;
use pb2b_core::sync::{
    ExportFormat, LeadPage, LeadQuery, SyncOptions, SyncProgress, SyncReport, SyncStatus,
    VerifyProgress, VerifyReport,
};
use pb2b_core::webhooks::{
    DeliveryPage, DeliveryRow, LiveEvent, SecretDialog, SignatureCheck, SignatureVerdict, UrlCheck,
    WebhookChanges, WebhookDraft, WebhookEndpoint, WebhookEventInfo, WebhookSubmission,
};

use crate::commands::background::BackgroundSettings;
use crate::commands::sync::MirrorExportResult;

/// Every command the UI can invoke, in one list: `$then! { <entries> }`.
///
/// An entry is the command's path, its parameters in order and its return type, as in its
/// signature. Parameters Tauri injects (`app: AppHandle`, `state: State`, a `Window`) are written
/// by name only: they are not part of the UI's call. The others keep their type, which the UI
/// sees through ts-rs (a `Channel<T>` becomes a typed `Channel` argument; `Result<T, ErrorReport>`
/// answers `T` and rejects with an `ErrorReport`). Argument names cross IPC in camelCase.
///
/// The bindings test checks each entry against the `#[tauri::command]` fn it names (parameter
/// names, types and return type) and that every `#[tauri::command]` is listed.
macro_rules! commands {
    ($($then:ident)::+) => {
        $($then)::+! {
            crate::commands::diagnostics(app, state) -> Result<Diagnostics, ErrorReport>;
            crate::commands::cancel_job(state, id: String) -> bool;
            crate::commands::connect::connection_status(state) -> Result<ConnectionStatus, ErrorReport>;
            crate::commands::connect::verify_key(state, base_url: String, key: SecretString) -> Result<KeyCheck, ErrorReport>;
            crate::commands::connect::save_profile(state, name: String, base_url: String, key: SecretString, replace: bool) -> Result<ConnectionStatus, ErrorReport>;
            crate::commands::connect::connect_sandbox(state) -> Result<ConnectionStatus, ErrorReport>;
            crate::commands::connect::activate_profile(state, name: String) -> Result<ConnectionStatus, ErrorReport>;
            crate::commands::connect::rename_profile(app, state, from: String, to: String) -> Result<ConnectionStatus, ErrorReport>;
            crate::commands::connect::forget_profile(app, state, name: String) -> Result<ConnectionStatus, ErrorReport>;
            crate::commands::activity::activity(state, filter: LogFilter) -> Result<Vec<LoggedRequest>, ErrorReport>;
            crate::commands::activity::support_bundle(app, state, id: i64) -> Result<String, ErrorReport>;
            crate::commands::activity::support_bundle_save(app, state, id: i64) -> Result<Option<String>, ErrorReport>;
            crate::commands::files::reveal_file(app, state, path: String) -> Result<(), ErrorReport>;
            crate::commands::overview::overview(state) -> Result<Overview, ErrorReport>;
            crate::commands::sync::sync_now(app, options: SyncOptions, on_progress: Channel<SyncProgress>) -> Result<SyncReport, ErrorReport>;
            crate::commands::destination::sync_destination(app, state) -> Result<SyncDestinationView, ErrorReport>;
            crate::commands::destination::set_sync_destination(app, state, destination: SyncDestination, password: SecretString) -> Result<SyncDestinationView, ErrorReport>;
            crate::commands::destination::test_sync_destination(state, destination: SyncDestination, password: SecretString) -> Result<String, ErrorReport>;
            crate::commands::destination::sync_destination_status(app, state) -> Result<Option<SyncStatus>, ErrorReport>;
            crate::commands::destination::sync_verify(app, state, repair: bool, on_progress: Channel<VerifyProgress>) -> Result<VerifyReport, ErrorReport>;
            crate::commands::sync::sync_status(state) -> Result<Option<SyncStatus>, ErrorReport>;
            crate::commands::sync::sync_running(state) -> bool;
            crate::commands::sync::leads_search(state, query: LeadQuery) -> Result<LeadPage, ErrorReport>;
            crate::commands::sync::lead_detail(state, id: String) -> Result<Option<Lead>, ErrorReport>;
            crate::commands::sync::lead_edit_validate(edit: LeadEdit) -> Vec<FieldError>;
            crate::commands::sync::lead_edit(state, edit: LeadEdit) -> Result<EditOutcome, ErrorReport>;
            crate::commands::sync::mirror_export(app, state, format: ExportFormat, query: LeadQuery) -> Result<Option<MirrorExportResult>, ErrorReport>;
            crate::commands::sync::set_sync_interval(app, state, minutes: u32) -> Result<u32, ErrorReport>;
            crate::commands::sync::sync_interval(state) -> Result<u32, ErrorReport>;
            crate::commands::sync::sync_schedule(state) -> Result<SyncSchedule, ErrorReport>;
            crate::commands::background::background_settings(app) -> Result<BackgroundSettings, ErrorReport>;
            crate::commands::background::set_close_to_tray(app, state, keep: Option<bool>) -> Result<BackgroundSettings, ErrorReport>;
            crate::commands::background::answer_close(app, state, keep: bool) -> Result<(), ErrorReport>;
            crate::commands::background::set_start_at_login(app, enabled: bool) -> Result<BackgroundSettings, ErrorReport>;
            crate::commands::exports::exports_list(app, state) -> Result<Vec<ExportJob>, ErrorReport>;
            crate::commands::exports::export_start(app, state, updated_after: Option<String>, fields: Option<Vec<String>>) -> Result<ExportJob, ErrorReport>;
            crate::commands::exports::export_resume(app, state, id: String) -> Result<(), ErrorReport>;
            crate::commands::exports::export_stop_polling(state, id: String) -> Result<ExportJob, ErrorReport>;
            crate::commands::exports::export_remove(state, id: String) -> Result<(), ErrorReport>;
            crate::commands::exports::export_open(app, state, id: String) -> Result<(), ErrorReport>;
            crate::commands::exports::export_reveal(app, state, id: String) -> Result<(), ErrorReport>;
            crate::commands::webhooks::webhook_events() -> Vec<WebhookEventInfo>;
            crate::commands::webhooks::webhook_check_url(state, url: String) -> Result<UrlCheck, ErrorReport>;
            crate::commands::webhooks::webhooks_list(state) -> Result<Vec<WebhookEndpoint>, ErrorReport>;
            crate::commands::webhooks::webhook_submission(draft: WebhookDraft) -> WebhookSubmission;
            crate::commands::webhooks::webhook_create(state, submission: WebhookSubmission) -> Result<SecretDialog, ErrorReport>;
            crate::commands::webhooks::webhook_rotate(state, id: String) -> Result<SecretDialog, ErrorReport>;
            crate::commands::webhooks::webhook_save_secret(state) -> Result<(), ErrorReport>;
            crate::commands::webhooks::webhook_copy_secret(app, state) -> Result<u64, ErrorReport>;
            crate::commands::webhooks::webhook_dismiss_secret(state) -> Result<(), ErrorReport>;
            crate::commands::webhooks::webhook_update(state, id: String, changes: WebhookChanges) -> Result<WebhookEndpoint, ErrorReport>;
            crate::commands::webhooks::webhook_delete(state, id: String) -> Result<(), ErrorReport>;
            crate::commands::webhooks::webhook_deliveries(state, id: String, cursor: Option<String>) -> Result<DeliveryPage, ErrorReport>;
            crate::commands::webhooks::webhook_retry_delivery(state, id: String, delivery_id: String) -> Result<DeliveryRow, ErrorReport>;
            crate::commands::webhooks::webhook_check_signature(state, check: SignatureCheck) -> Result<SignatureVerdict, ErrorReport>;
            crate::commands::webhooks::receiver_start(state, events: Vec<String>, on_delivery: Channel<LiveEvent>) -> Result<SecretDialog, ErrorReport>;
            crate::commands::webhooks::receiver_stop(state) -> Result<(), ErrorReport>;
            crate::commands::webhooks::receiver_available(state) -> Result<bool, ErrorReport>;
            crate::commands::import::lead_validate(lead: NewLead) -> Vec<FieldError>;
            crate::commands::import::lead_submission(lead: NewLead) -> LeadSubmission;
            crate::commands::import::lead_create(state, submission: LeadSubmission) -> Result<CreatedLead, ErrorReport>;
            crate::commands::import::import_pick_file(app) -> Result<Option<String>, ErrorReport>;
            crate::commands::import::import_preview(state, path: String, mapping: Option<Mapping>, sheet: Option<String>) -> Result<Preview, ErrorReport>;
            crate::commands::import::imports_list(state) -> Result<Vec<ImportJob>, ErrorReport>;
            crate::commands::import::imports_unassigned(state) -> Result<Vec<ImportJob>, ErrorReport>;
            crate::commands::import::import_assign(state, id: String) -> Result<ImportJob, ErrorReport>;
            crate::commands::import::import_stage(state, path: String, mapping: Mapping, sheet: Option<String>) -> Result<ImportJob, ErrorReport>;
            crate::commands::import::import_review(app, state, id: String, mode: ImportMode) -> Result<ImportReview, ErrorReport>;
            crate::commands::import::import_review_rows(state, id: String, only: Option<ReviewClass>, offset: u32, limit: u32) -> Result<ReviewPage, ErrorReport>;
            crate::commands::import::import_resume(app, state, id: String) -> Result<(), ErrorReport>;
            crate::commands::import::import_pause(state, id: String) -> bool;
            crate::commands::import::import_cancel(state, id: String) -> Result<ImportJob, ErrorReport>;
            crate::commands::import::import_retry_failed(app, state, id: String) -> Result<ImportJob, ErrorReport>;
            crate::commands::import::import_results_file(app, state, id: String, kind: ResultsKind) -> Result<Option<String>, ErrorReport>;
        }
    };
}
pub(crate) use commands;

/// The `tauri::generate_handler!` of every listed command (used by `lib.rs` as
/// `ipc::commands!(ipc::invoke_handler)`).
macro_rules! invoke_handler {
    ($( $($seg:ident)::+ ( $($arg:ident $(: $ty:ty)?),* ) -> $ret:ty; )*) => {
        tauri::generate_handler![ $( $($seg)::+ ),* ]
    };
}
pub(crate) use invoke_handler;

/// One listed command, as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSig {
    /// The Rust path as listed (`crate::commands::sync::sync_now`).
    pub path: &'static str,
    /// Its parameters in order: name, and the TypeScript type when the UI passes it (None for
    /// what Tauri injects).
    pub args: Vec<(&'static str, Option<String>)>,
    /// What the UI's call resolves to.
    pub ret: String,
    /// The Rust text of each parameter's type as listed (None for injected ones) and of the
    /// return type, for the check against the source.
    pub rust_args: Vec<Option<&'static str>>,
    /// See `rust_args`.
    pub rust_ret: &'static str,
}

impl CommandSig {
    /// The command's IPC name: its function's name.
    pub fn name(&self) -> &'static str {
        self.path.rsplit("::").next().unwrap_or(self.path).trim()
    }
}

macro_rules! sigs_of {
    ($( $($seg:ident)::+ ( $($arg:ident $(: $ty:ty)?),* ) -> $ret:ty; )*) => {{
        let mut deps = Deps::default();
        let sigs = vec![ $(
            CommandSig {
                path: stringify!($($seg)::+),
                // An injected parameter (no type listed) is None.
                args: vec![ $( (
                    stringify!($arg),
                    Option::<String>::None
                        $( .or_else(|| Some((&Probe::<$ty>(PhantomData)).arg_ts(&mut deps))) )?,
                ) ),* ],
                ret: (&Probe::<$ret>(PhantomData)).ret_ts(&mut deps),
                rust_args: vec![ $( Option::<&'static str>::None $( .or(Some(stringify!($ty))) )? ),* ],
                rust_ret: stringify!($ret),
            },
        )* ];
        (sigs, deps)
    }};
}

/// Every listed command with its TypeScript signature.
pub fn command_sigs() -> Vec<CommandSig> {
    commands!(sigs_of).0
}

/// The contents of `ui/src/bindings/commands.ts`.
pub fn commands_ts() -> String {
    let (sigs, deps) = commands!(sigs_of);
    let mut body = String::new();
    for sig in &sigs {
        let params: Vec<(String, &String)> = sig
            .args
            .iter()
            .filter_map(|(name, ts)| ts.as_ref().map(|ts| (camel_case(name), ts)))
            .collect();
        let list = params
            .iter()
            .map(|(name, ts)| format!("{name}: {ts}"))
            .collect::<Vec<_>>()
            .join(", ");
        let call = if params.is_empty() {
            format!("invoke({:?})", sig.name())
        } else {
            let names = params
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            format!("invoke({:?}, {{ {names} }})", sig.name())
        };
        body.push_str(&format!(
            "/** `{}` */\nexport function {}({list}): Promise<{}> {{\n  return {call};\n}}\n\n",
            sig.path.replace(' ', ""),
            camel_case(sig.name()),
            sig.ret,
        ));
    }
    let channel = if body.contains("Channel<") {
        ", type Channel"
    } else {
        ""
    };
    format!(
        "{HEADER}import {{ invoke{channel} }} from \"@tauri-apps/api/core\";\n{}\n{}",
        deps.imports(&body),
        body.trim_end_matches('\n').to_owned() + "\n"
    )
}

const HEADER: &str = "// Generated from the command and event lists in src-tauri/src/ipc.rs by\n// `UPDATE_BINDINGS=1 cargo test --test app bindings`. Do not edit by hand.\n";

/// `snake_case` to `camelCase`, as Tauri converts command arguments.
pub fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The ts-rs config of command and event signatures: 64-bit integers cross IPC as JSON numbers.
fn config() -> Config {
    Config::new().with_large_int("number")
}

/// The bindings a generated file may import: TypeScript name to file (without `.ts`).
#[derive(Default)]
struct Deps(BTreeMap<String, String>);

impl Deps {
    fn add<T: TS + 'static + ?Sized>(&mut self) {
        struct Visit<'a>(&'a mut Deps);
        impl TypeVisitor for Visit<'_> {
            fn visit<T: TS + 'static + ?Sized>(&mut self) {
                self.0.add::<T>();
            }
        }
        match T::output_path() {
            Some(path) => {
                let file = path.with_extension("").display().to_string();
                self.0.insert(T::ident(&config()), file);
            }
            // Wrappers (Option, Vec, ...): what they wrap.
            None => {
                T::visit_dependencies(&mut Visit(self));
                T::visit_generics(&mut Visit(self));
            }
        }
    }

    /// `import type` lines for the names `body` uses.
    fn imports(&self, body: &str) -> String {
        let used = |name: &str| {
            body.match_indices(name).any(|(i, _)| {
                let before = body[..i].chars().next_back();
                let after = body[i + name.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        };
        self.0
            .iter()
            .filter(|(name, _)| used(name))
            .map(|(name, file)| format!("import type {{ {name} }} from \"./{file}\";\n"))
            .collect()
    }
}

/// A type seen by the generator. Which TypeScript a parameter or answer becomes is picked by
/// method resolution on `(&Probe::<T>(PhantomData))` ("autoref specialisation"): the impls on
/// `Probe<Special>` (`Channel<T>`, a `Sensitive<T>` secret, `Result<T, ErrorReport>`) match
/// first; any other type falls through to the impls on `&Probe<T>`, which need its ts-rs
/// bindings. A type with neither does not compile.
struct Probe<T: ?Sized>(PhantomData<T>);

/// A parameter with ts-rs bindings.
trait ArgTs {
    fn arg_ts(&self, deps: &mut Deps) -> String;
}
impl<T: TS + 'static> ArgTs for &Probe<T> {
    fn arg_ts(&self, deps: &mut Deps) -> String {
        deps.add::<T>();
        T::name(&config())
    }
}

/// A parameter that needs a rule of its own.
trait SpecialArgTs {
    fn arg_ts(&self, deps: &mut Deps) -> String;
}
/// A channel the command streams to: the UI passes a typed `Channel`.
impl<T: TS + 'static> SpecialArgTs for Probe<Channel<T>> {
    fn arg_ts(&self, deps: &mut Deps) -> String {
        deps.add::<T>();
        format!("Channel<{}>", T::name(&config()))
    }
}
/// A secret (API key) sent by the UI: it deserializes as what it wraps.
impl<T: TS + 'static> SpecialArgTs for Probe<Sensitive<T>> {
    fn arg_ts(&self, deps: &mut Deps) -> String {
        deps.add::<T>();
        T::name(&config())
    }
}

/// A fallible command answers its `Ok` value (its `Err` rejects the call).
trait ResultRetTs {
    fn ret_ts(&self, deps: &mut Deps) -> String;
}
impl<T: TS + 'static> ResultRetTs for Probe<Result<T, ErrorReport>> {
    fn ret_ts(&self, deps: &mut Deps) -> String {
        (&Probe::<T>(PhantomData)).ret_ts(deps)
    }
}

/// An infallible command answers its value; `()` answers nothing.
trait RetTs {
    fn ret_ts(&self, deps: &mut Deps) -> String;
}
impl<T: TS + 'static> RetTs for &Probe<T> {
    fn ret_ts(&self, deps: &mut Deps) -> String {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<()>() {
            return "void".to_owned();
        }
        deps.add::<T>();
        T::name(&config())
    }
}

/// The payload of `sync-finished`: the report of a sync that ended, or its error.
#[derive(Debug, Clone, serde::Serialize, TS)]
#[ts(export_to = "SyncFinished.ts")]
pub enum SyncFinished {
    /// The sync ended (completed, cancelled or interrupted).
    #[serde(rename = "report")]
    Report(SyncReport),
    /// The sync failed.
    #[serde(rename = "error")]
    Error(ErrorReport),
}

/// The payload of `import-finished`: the summary of an import run that ended, or its error.
#[derive(Debug, Clone, serde::Serialize, TS)]
#[serde(untagged)]
#[ts(export_to = "ImportFinished.ts")]
pub enum ImportFinished {
    /// The run ended.
    Summary {
        /// Its summary.
        summary: ImportSummary,
    },
    /// The run failed.
    Failed {
        /// The import.
        import_id: String,
        /// Why.
        error: ErrorReport,
    },
}

/// Every event the app emits, in one list: its variant, payload and name.
macro_rules! events {
    ($( $(#[doc = $doc:literal])* $variant:ident($payload:ty) = $name:literal; )*) => {
        /// An event the app emits to its windows, with its payload. Emit with [`AppEvent::emit`];
        /// the UI listens with `on(name, handler)` from `ui/src/bindings/events.ts`.
        #[derive(Debug, Clone, Copy)]
        pub enum AppEvent<'a> {
            $( $(#[doc = $doc])* $variant(&'a $payload), )*
        }

        impl AppEvent<'_> {
            /// Its name on the wire.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $name, )*
                }
            }

            /// Sends it to every window.
            pub fn emit<R: Runtime>(&self, to: &impl Emitter<R>) -> tauri::Result<()> {
                match self {
                    $( Self::$variant(payload) => to.emit($name, payload), )*
                }
            }
        }

        /// The contents of `ui/src/bindings/events.ts`.
        pub fn events_ts() -> String {
            let mut deps = Deps::default();
            let mut map = String::new();
            $(
                deps.add::<$payload>();
                let doc: &[&str] = &[$($doc),*];
                if !doc.is_empty() {
                    map.push_str(&format!("  /**{} */\n", doc.join(" ").trim_end()));
                }
                map.push_str(&format!("  {:?}: {};\n", $name, <$payload as TS>::name(&config())));
            )*
            format!(
                "{HEADER}import {{ listen, type UnlistenFn }} from \"@tauri-apps/api/event\";\n{}\n\
                 /** Every event the app emits: its name and payload. */\n\
                 export interface AppEvents {{\n{map}}}\n\n\
                 export type AppEventName = keyof AppEvents;\n\n\
                 /** Listens to one of the app's events; resolves to the function that stops listening. */\n\
                 export function on<K extends AppEventName>(\n  name: K,\n  handler: (payload: AppEvents[K]) => void,\n): Promise<UnlistenFn> {{\n  \
                 return listen<AppEvents[K]>(name, (event) => handler(event.payload));\n}}\n",
                deps.imports(&map),
            )
        }
    };
}

events! {
    /// A sync of the active workspace (started anywhere in the app) read another page.
    SyncProgress(SyncProgress) = "sync-progress";
    /// A sync (by hand or by the interval) ended: its report or error.
    SyncFinished(SyncFinished) = "sync-finished";
    /// An export job changed (status, polling, download progress).
    Export(ExportEvent) = "export-event";
    /// An import run's progress.
    ImportProgress(ImportProgress) = "import-progress";
    /// An import run ended: its summary or error.
    ImportFinished(ImportFinished) = "import-finished";
    /// The main window was closed and the user has not chosen yet whether the app keeps syncing
    /// in the tray: the UI asks (and answers with `answer_close`).
    CloseRequested(()) = "close-requested";
}

/// The generated files, relative to `ui/src/bindings/`, with their contents.
pub fn generated_files() -> Vec<(PathBuf, String)> {
    vec![
        (PathBuf::from("commands.ts"), commands_ts()),
        (PathBuf::from("events.ts"), events_ts()),
    ]
}
