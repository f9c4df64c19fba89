// Generated from the command and event lists in src-tauri/src/ipc.rs by
// `UPDATE_BINDINGS=1 cargo test --test app bindings`. Do not edit by hand.
import { invoke, type Channel } from "@tauri-apps/api/core";
import type { BackgroundSettings } from "./BackgroundSettings";
import type { ConnectionStatus } from "./ConnectionStatus";
import type { CreatedLead } from "./CreatedLead";
import type { DeliveryPage } from "./DeliveryPage";
import type { DeliveryRow } from "./DeliveryRow";
import type { Diagnostics } from "./Diagnostics";
import type { EditOutcome } from "./EditOutcome";
import type { ExportFormat } from "./MirrorExportFormat";
import type { ExportJob } from "./ExportJob";
import type { FieldError } from "./FieldError";
import type { ImportJob } from "./ImportJob";
import type { ImportMode } from "./ImportMode";
import type { ImportReview } from "./ImportReview";
import type { KeyCheck } from "./KeyCheck";
import type { Lead } from "./Lead";
import type { LeadEdit } from "./LeadEdit";
import type { LeadPage } from "./LeadPage";
import type { LeadQuery } from "./LeadQuery";
import type { LeadSubmission } from "./LeadSubmission";
import type { LiveEvent } from "./LiveEvent";
import type { LogFilter } from "./LogFilter";
import type { LoggedRequest } from "./LoggedRequest";
import type { Mapping } from "./Mapping";
import type { MirrorExportResult } from "./MirrorExportResult";
import type { NewLead } from "./NewLead";
import type { Overview } from "./Overview";
import type { Preview } from "./Preview";
import type { ResultsKind } from "./ResultsKind";
import type { ReviewClass } from "./ReviewClass";
import type { ReviewPage } from "./ReviewPage";
import type { SecretDialog } from "./SecretDialog";
import type { SignatureCheck } from "./SignatureCheck";
import type { SignatureVerdict } from "./SignatureVerdict";
import type { SyncDestination } from "./SyncDestination";
import type { SyncDestinationView } from "./SyncDestinationView";
import type { SyncOptions } from "./SyncOptions";
import type { SyncProgress } from "./SyncProgress";
import type { SyncReport } from "./SyncReport";
import type { SyncSchedule } from "./SyncSchedule";
import type { SyncStatus } from "./SyncStatus";
import type { UrlCheck } from "./UrlCheck";
import type { VerifyProgress } from "./VerifyProgress";
import type { VerifyReport } from "./VerifyReport";
import type { WebhookChanges } from "./WebhookChanges";
import type { WebhookDraft } from "./WebhookDraft";
import type { WebhookEndpoint } from "./WebhookEndpoint";
import type { WebhookEventInfo } from "./WebhookEventInfo";
import type { WebhookSubmission } from "./WebhookSubmission";

/** `crate::commands::diagnostics` */
export function diagnostics(): Promise<Diagnostics> {
  return invoke("diagnostics");
}

/** `crate::commands::cancel_job` */
export function cancelJob(id: string): Promise<boolean> {
  return invoke("cancel_job", { id });
}

/** `crate::commands::connect::connection_status` */
export function connectionStatus(): Promise<ConnectionStatus> {
  return invoke("connection_status");
}

/** `crate::commands::connect::verify_key` */
export function verifyKey(baseUrl: string, key: string): Promise<KeyCheck> {
  return invoke("verify_key", { baseUrl, key });
}

/** `crate::commands::connect::save_profile` */
export function saveProfile(name: string, baseUrl: string, key: string, replace: boolean): Promise<ConnectionStatus> {
  return invoke("save_profile", { name, baseUrl, key, replace });
}

/** `crate::commands::connect::connect_sandbox` */
export function connectSandbox(): Promise<ConnectionStatus> {
  return invoke("connect_sandbox");
}

/** `crate::commands::connect::activate_profile` */
export function activateProfile(name: string): Promise<ConnectionStatus> {
  return invoke("activate_profile", { name });
}

/** `crate::commands::connect::rename_profile` */
export function renameProfile(from: string, to: string): Promise<ConnectionStatus> {
  return invoke("rename_profile", { from, to });
}

/** `crate::commands::connect::forget_profile` */
export function forgetProfile(name: string): Promise<ConnectionStatus> {
  return invoke("forget_profile", { name });
}

/** `crate::commands::activity::activity` */
export function activity(filter: LogFilter): Promise<Array<LoggedRequest>> {
  return invoke("activity", { filter });
}

/** `crate::commands::activity::support_bundle` */
export function supportBundle(id: number): Promise<string> {
  return invoke("support_bundle", { id });
}

/** `crate::commands::activity::support_bundle_save` */
export function supportBundleSave(id: number): Promise<string | null> {
  return invoke("support_bundle_save", { id });
}

/** `crate::commands::files::reveal_file` */
export function revealFile(path: string): Promise<void> {
  return invoke("reveal_file", { path });
}

/** `crate::commands::overview::overview` */
export function overview(): Promise<Overview> {
  return invoke("overview");
}

/** `crate::commands::sync::sync_now` */
export function syncNow(options: SyncOptions, onProgress: Channel<SyncProgress>): Promise<SyncReport> {
  return invoke("sync_now", { options, onProgress });
}

/** `crate::commands::destination::sync_destination` */
export function syncDestination(): Promise<SyncDestinationView> {
  return invoke("sync_destination");
}

/** `crate::commands::destination::set_sync_destination` */
export function setSyncDestination(destination: SyncDestination, password: string): Promise<SyncDestinationView> {
  return invoke("set_sync_destination", { destination, password });
}

/** `crate::commands::destination::test_sync_destination` */
export function testSyncDestination(destination: SyncDestination, password: string): Promise<string> {
  return invoke("test_sync_destination", { destination, password });
}

/** `crate::commands::destination::sync_destination_status` */
export function syncDestinationStatus(): Promise<SyncStatus | null> {
  return invoke("sync_destination_status");
}

/** `crate::commands::destination::sync_verify` */
export function syncVerify(repair: boolean, onProgress: Channel<VerifyProgress>): Promise<VerifyReport> {
  return invoke("sync_verify", { repair, onProgress });
}

/** `crate::commands::sync::sync_status` */
export function syncStatus(): Promise<SyncStatus | null> {
  return invoke("sync_status");
}

/** `crate::commands::sync::sync_running` */
export function syncRunning(): Promise<boolean> {
  return invoke("sync_running");
}

/** `crate::commands::sync::leads_search` */
export function leadsSearch(query: LeadQuery): Promise<LeadPage> {
  return invoke("leads_search", { query });
}

/** `crate::commands::sync::lead_detail` */
export function leadDetail(id: string): Promise<Lead | null> {
  return invoke("lead_detail", { id });
}

/** `crate::commands::sync::lead_edit_validate` */
export function leadEditValidate(edit: LeadEdit): Promise<Array<FieldError>> {
  return invoke("lead_edit_validate", { edit });
}

/** `crate::commands::sync::lead_edit` */
export function leadEdit(edit: LeadEdit): Promise<EditOutcome> {
  return invoke("lead_edit", { edit });
}

/** `crate::commands::sync::mirror_export` */
export function mirrorExport(format: ExportFormat, query: LeadQuery): Promise<MirrorExportResult | null> {
  return invoke("mirror_export", { format, query });
}

/** `crate::commands::sync::set_sync_interval` */
export function setSyncInterval(minutes: number): Promise<number> {
  return invoke("set_sync_interval", { minutes });
}

/** `crate::commands::sync::sync_interval` */
export function syncInterval(): Promise<number> {
  return invoke("sync_interval");
}

/** `crate::commands::sync::sync_schedule` */
export function syncSchedule(): Promise<SyncSchedule> {
  return invoke("sync_schedule");
}

/** `crate::commands::background::background_settings` */
export function backgroundSettings(): Promise<BackgroundSettings> {
  return invoke("background_settings");
}

/** `crate::commands::background::set_close_to_tray` */
export function setCloseToTray(keep: boolean | null): Promise<BackgroundSettings> {
  return invoke("set_close_to_tray", { keep });
}

/** `crate::commands::background::answer_close` */
export function answerClose(keep: boolean): Promise<void> {
  return invoke("answer_close", { keep });
}

/** `crate::commands::background::set_start_at_login` */
export function setStartAtLogin(enabled: boolean): Promise<BackgroundSettings> {
  return invoke("set_start_at_login", { enabled });
}

/** `crate::commands::exports::exports_list` */
export function exportsList(): Promise<Array<ExportJob>> {
  return invoke("exports_list");
}

/** `crate::commands::exports::export_start` */
export function exportStart(updatedAfter: string | null, fields: Array<string> | null): Promise<ExportJob> {
  return invoke("export_start", { updatedAfter, fields });
}

/** `crate::commands::exports::export_resume` */
export function exportResume(id: string): Promise<void> {
  return invoke("export_resume", { id });
}

/** `crate::commands::exports::export_stop_polling` */
export function exportStopPolling(id: string): Promise<ExportJob> {
  return invoke("export_stop_polling", { id });
}

/** `crate::commands::exports::export_remove` */
export function exportRemove(id: string): Promise<void> {
  return invoke("export_remove", { id });
}

/** `crate::commands::exports::export_open` */
export function exportOpen(id: string): Promise<void> {
  return invoke("export_open", { id });
}

/** `crate::commands::exports::export_reveal` */
export function exportReveal(id: string): Promise<void> {
  return invoke("export_reveal", { id });
}

/** `crate::commands::webhooks::webhook_events` */
export function webhookEvents(): Promise<Array<WebhookEventInfo>> {
  return invoke("webhook_events");
}

/** `crate::commands::webhooks::webhook_check_url` */
export function webhookCheckUrl(url: string): Promise<UrlCheck> {
  return invoke("webhook_check_url", { url });
}

/** `crate::commands::webhooks::webhooks_list` */
export function webhooksList(): Promise<Array<WebhookEndpoint>> {
  return invoke("webhooks_list");
}

/** `crate::commands::webhooks::webhook_submission` */
export function webhookSubmission(draft: WebhookDraft): Promise<WebhookSubmission> {
  return invoke("webhook_submission", { draft });
}

/** `crate::commands::webhooks::webhook_create` */
export function webhookCreate(submission: WebhookSubmission): Promise<SecretDialog> {
  return invoke("webhook_create", { submission });
}

/** `crate::commands::webhooks::webhook_rotate` */
export function webhookRotate(id: string): Promise<SecretDialog> {
  return invoke("webhook_rotate", { id });
}

/** `crate::commands::webhooks::webhook_save_secret` */
export function webhookSaveSecret(): Promise<void> {
  return invoke("webhook_save_secret");
}

/** `crate::commands::webhooks::webhook_copy_secret` */
export function webhookCopySecret(): Promise<number> {
  return invoke("webhook_copy_secret");
}

/** `crate::commands::webhooks::webhook_dismiss_secret` */
export function webhookDismissSecret(): Promise<void> {
  return invoke("webhook_dismiss_secret");
}

/** `crate::commands::webhooks::webhook_update` */
export function webhookUpdate(id: string, changes: WebhookChanges): Promise<WebhookEndpoint> {
  return invoke("webhook_update", { id, changes });
}

/** `crate::commands::webhooks::webhook_delete` */
export function webhookDelete(id: string): Promise<void> {
  return invoke("webhook_delete", { id });
}

/** `crate::commands::webhooks::webhook_deliveries` */
export function webhookDeliveries(id: string, cursor: string | null): Promise<DeliveryPage> {
  return invoke("webhook_deliveries", { id, cursor });
}

/** `crate::commands::webhooks::webhook_retry_delivery` */
export function webhookRetryDelivery(id: string, deliveryId: string): Promise<DeliveryRow> {
  return invoke("webhook_retry_delivery", { id, deliveryId });
}

/** `crate::commands::webhooks::webhook_check_signature` */
export function webhookCheckSignature(check: SignatureCheck): Promise<SignatureVerdict> {
  return invoke("webhook_check_signature", { check });
}

/** `crate::commands::webhooks::receiver_start` */
export function receiverStart(events: Array<string>, onDelivery: Channel<LiveEvent>): Promise<SecretDialog> {
  return invoke("receiver_start", { events, onDelivery });
}

/** `crate::commands::webhooks::receiver_stop` */
export function receiverStop(): Promise<void> {
  return invoke("receiver_stop");
}

/** `crate::commands::webhooks::receiver_available` */
export function receiverAvailable(): Promise<boolean> {
  return invoke("receiver_available");
}

/** `crate::commands::import::lead_validate` */
export function leadValidate(lead: NewLead): Promise<Array<FieldError>> {
  return invoke("lead_validate", { lead });
}

/** `crate::commands::import::lead_submission` */
export function leadSubmission(lead: NewLead): Promise<LeadSubmission> {
  return invoke("lead_submission", { lead });
}

/** `crate::commands::import::lead_create` */
export function leadCreate(submission: LeadSubmission): Promise<CreatedLead> {
  return invoke("lead_create", { submission });
}

/** `crate::commands::import::import_pick_file` */
export function importPickFile(): Promise<string | null> {
  return invoke("import_pick_file");
}

/** `crate::commands::import::import_preview` */
export function importPreview(path: string, mapping: Mapping | null, sheet: string | null): Promise<Preview> {
  return invoke("import_preview", { path, mapping, sheet });
}

/** `crate::commands::import::imports_list` */
export function importsList(): Promise<Array<ImportJob>> {
  return invoke("imports_list");
}

/** `crate::commands::import::imports_unassigned` */
export function importsUnassigned(): Promise<Array<ImportJob>> {
  return invoke("imports_unassigned");
}

/** `crate::commands::import::import_assign` */
export function importAssign(id: string): Promise<ImportJob> {
  return invoke("import_assign", { id });
}

/** `crate::commands::import::import_stage` */
export function importStage(path: string, mapping: Mapping, sheet: string | null): Promise<ImportJob> {
  return invoke("import_stage", { path, mapping, sheet });
}

/** `crate::commands::import::import_review` */
export function importReview(id: string, mode: ImportMode): Promise<ImportReview> {
  return invoke("import_review", { id, mode });
}

/** `crate::commands::import::import_review_rows` */
export function importReviewRows(id: string, only: ReviewClass | null, offset: number, limit: number): Promise<ReviewPage> {
  return invoke("import_review_rows", { id, only, offset, limit });
}

/** `crate::commands::import::import_resume` */
export function importResume(id: string): Promise<void> {
  return invoke("import_resume", { id });
}

/** `crate::commands::import::import_pause` */
export function importPause(id: string): Promise<boolean> {
  return invoke("import_pause", { id });
}

/** `crate::commands::import::import_cancel` */
export function importCancel(id: string): Promise<ImportJob> {
  return invoke("import_cancel", { id });
}

/** `crate::commands::import::import_retry_failed` */
export function importRetryFailed(id: string): Promise<ImportJob> {
  return invoke("import_retry_failed", { id });
}

/** `crate::commands::import::import_results_file` */
export function importResultsFile(id: string, kind: ResultsKind): Promise<string | null> {
  return invoke("import_results_file", { id, kind });
}
