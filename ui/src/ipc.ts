// The one door to the Rust side. Every command's error arrives as an ErrorReport
// ({code, message, request_id, retryable}); anything else (a missing command, a broken bridge)
// is normalised into the same shape so screens handle one type.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ErrorReport } from "./bindings/ErrorReport";
import type { Diagnostics } from "./bindings/Diagnostics";
import type { ConnectionStatus } from "./bindings/ConnectionStatus";
import type { KeyCheck } from "./bindings/KeyCheck";
import type { LoggedRequest } from "./bindings/LoggedRequest";
import type { LogFilter } from "./bindings/LogFilter";
import type { Lead } from "./bindings/Lead";
import type { LeadPage } from "./bindings/LeadPage";
import type { LeadQuery } from "./bindings/LeadQuery";
import type { ExportFormat } from "./bindings/MirrorExportFormat";
import type { SyncOptions } from "./bindings/SyncOptions";
import type { SyncProgress } from "./bindings/SyncProgress";
import type { SyncReport } from "./bindings/SyncReport";
import type { SyncStatus } from "./bindings/SyncStatus";
import type { MirrorExportResult } from "./bindings/MirrorExportResult";
import type { ExportJob } from "./bindings/ExportJob";
import type { WebhookEventInfo } from "./bindings/WebhookEventInfo";
import type { UrlCheck } from "./bindings/UrlCheck";
import type { WebhookEndpoint } from "./bindings/WebhookEndpoint";
import type { WebhookDraft } from "./bindings/WebhookDraft";
import type { WebhookChanges } from "./bindings/WebhookChanges";
import type { SecretDialog } from "./bindings/SecretDialog";
import type { DeliveryPage } from "./bindings/DeliveryPage";
import type { DeliveryRow } from "./bindings/DeliveryRow";
import type { SignatureCheck } from "./bindings/SignatureCheck";
import type { SignatureVerdict } from "./bindings/SignatureVerdict";
import type { ReceivedDelivery } from "./bindings/ReceivedDelivery";
import type { NewLead } from "./bindings/NewLead";
import type { FieldError } from "./bindings/FieldError";
import type { LeadSubmission } from "./bindings/LeadSubmission";
import type { CreatedLead } from "./bindings/CreatedLead";
import type { Preview } from "./bindings/Preview";
import type { Mapping } from "./bindings/Mapping";
import type { ImportJob } from "./bindings/ImportJob";

export function isErrorReport(value: unknown): value is ErrorReport {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ErrorReport).code === "string" &&
    typeof (value as ErrorReport).message === "string"
  );
}

export function toErrorReport(value: unknown): ErrorReport {
  if (isErrorReport(value)) {
    return {
      code: value.code,
      message: value.message,
      request_id: value.request_id ?? null,
      retryable: Boolean(value.retryable),
    };
  }
  return {
    code: "ipc_failed",
    message: `The app could not complete the request: ${String(value)}`,
    request_id: null,
    retryable: false,
  };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (err) {
    throw toErrorReport(err);
  }
}

export const api = {
  diagnostics: () => call<Diagnostics>("diagnostics"),
  connectionStatus: () => call<ConnectionStatus>("connection_status"),
  verifyKey: (baseUrl: string, key: string) => call<KeyCheck>("verify_key", { baseUrl, key }),
  saveProfile: (name: string, baseUrl: string, key: string, replace: boolean) =>
    call<ConnectionStatus>("save_profile", { name, baseUrl, key, replace }),
  connectSandbox: () => call<ConnectionStatus>("connect_sandbox"),
  activateProfile: (name: string) => call<ConnectionStatus>("activate_profile", { name }),
  renameProfile: (from: string, to: string) => call<ConnectionStatus>("rename_profile", { from, to }),
  forgetProfile: (name: string) => call<ConnectionStatus>("forget_profile", { name }),
  activity: (filter: LogFilter) => call<LoggedRequest[]>("activity", { filter }),
  supportBundle: (id: number) => call<string>("support_bundle", { id }),
  cancelJob: (id: string) => call<boolean>("cancel_job", { id }),
  syncNow: (options: SyncOptions, onProgress: (p: SyncProgress) => void) => {
    const channel = new Channel<SyncProgress>();
    channel.onmessage = onProgress;
    return call<SyncReport>("sync_now", { options, onProgress: channel });
  },
  syncStatus: () => call<SyncStatus | null>("sync_status"),
  syncInterval: () => call<number>("sync_interval"),
  setSyncInterval: (minutes: number) => call<number>("set_sync_interval", { minutes }),
  leadsSearch: (query: LeadQuery) => call<LeadPage>("leads_search", { query }),
  leadDetail: (id: string) => call<Lead | null>("lead_detail", { id }),
  exportsList: () => call<ExportJob[]>("exports_list"),
  exportStart: (updatedAfter: string | null, fields: string[] | null) =>
    call<ExportJob>("export_start", { updatedAfter, fields }),
  exportResume: (id: string) => call<void>("export_resume", { id }),
  exportStopPolling: (id: string) => call<ExportJob>("export_stop_polling", { id }),
  exportRemove: (id: string) => call<void>("export_remove", { id }),
  exportOpen: (id: string) => call<void>("export_open", { id }),
  exportReveal: (id: string) => call<void>("export_reveal", { id }),
  webhookEvents: () => call<WebhookEventInfo[]>("webhook_events"),
  webhookCheckUrl: (url: string) => call<UrlCheck>("webhook_check_url", { url }),
  webhooksList: () => call<WebhookEndpoint[]>("webhooks_list"),
  webhookCreate: (draft: WebhookDraft) => call<SecretDialog>("webhook_create", { draft }),
  webhookRotate: (id: string) => call<SecretDialog>("webhook_rotate", { id }),
  webhookSaveSecret: () => call<void>("webhook_save_secret"),
  webhookCopySecret: () => call<number>("webhook_copy_secret"),
  webhookDismissSecret: () => call<void>("webhook_dismiss_secret"),
  webhookUpdate: (id: string, changes: WebhookChanges) => call<WebhookEndpoint>("webhook_update", { id, changes }),
  webhookDelete: (id: string) => call<void>("webhook_delete", { id }),
  webhookDeliveries: (id: string) => call<DeliveryPage>("webhook_deliveries", { id, cursor: null }),
  webhookRetryDelivery: (id: string, deliveryId: string) => call<DeliveryRow>("webhook_retry_delivery", { id, deliveryId }),
  webhookCheckSignature: (check: SignatureCheck) => call<SignatureVerdict>("webhook_check_signature", { check }),
  receiverStart: (events: string[], onDelivery: (d: ReceivedDelivery) => void) => {
    const channel = new Channel<ReceivedDelivery>();
    channel.onmessage = onDelivery;
    return call<SecretDialog>("receiver_start", { events, onDelivery: channel });
  },
  receiverStop: () => call<void>("receiver_stop"),
  receiverAvailable: () => call<boolean>("receiver_available"),
  leadValidate: (lead: NewLead) => call<FieldError[]>("lead_validate", { lead }),
  leadSubmission: (lead: NewLead) => call<LeadSubmission>("lead_submission", { lead }),
  leadCreate: (submission: LeadSubmission) => call<CreatedLead>("lead_create", { submission }),
  importPickFile: () => call<string | null>("import_pick_file"),
  importPreview: (path: string, mapping: Mapping | null) => call<Preview>("import_preview", { path, mapping }),
  importsList: () => call<ImportJob[]>("imports_list"),
  importStart: (path: string, mapping: Mapping) => call<ImportJob>("import_start", { path, mapping }),
  importResume: (id: string) => call<void>("import_resume", { id }),
  importPause: (id: string) => call<boolean>("import_pause", { id }),
  importCancel: (id: string) => call<ImportJob>("import_cancel", { id }),
  importRetryFailed: (id: string) => call<ImportJob>("import_retry_failed", { id }),
  importResultsFile: (id: string, kind: "errors" | "success") => call<string>("import_results_file", { id, kind }),
  mirrorExport: (format: ExportFormat, query: LeadQuery) =>
    call<MirrorExportResult>("mirror_export", { format, query }),
};
