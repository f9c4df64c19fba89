// The one door to the Rust side. Every command's error arrives as an ErrorReport
// ({code, message, request_id, retryable}); anything else (a missing command, a broken bridge)
// is normalised into the same shape so screens handle one type. The calls themselves (command
// names, argument names and types) are generated from src-tauri/src/ipc.rs into
// bindings/commands.ts: renaming a command or changing an argument fails the type check here.
import { Channel } from "@tauri-apps/api/core";
import * as commands from "./bindings/commands";
import { on } from "./bindings/events";
import type { ErrorReport } from "./bindings/ErrorReport";
import type { ExportFormat } from "./bindings/MirrorExportFormat";
import type { LeadEdit } from "./bindings/LeadEdit";
import type { LeadQuery } from "./bindings/LeadQuery";
import type { SyncOptions } from "./bindings/SyncOptions";
import type { SyncProgress } from "./bindings/SyncProgress";
import type { SyncReport } from "./bindings/SyncReport";
import type { VerifyProgress } from "./bindings/VerifyProgress";
import type { SyncDestination } from "./bindings/SyncDestination";
import type { LiveEvent } from "./bindings/LiveEvent";
import type { LogFilter } from "./bindings/LogFilter";
import type { WebhookDraft } from "./bindings/WebhookDraft";
import type { WebhookChanges } from "./bindings/WebhookChanges";
import type { WebhookSubmission } from "./bindings/WebhookSubmission";
import type { SignatureCheck } from "./bindings/SignatureCheck";
import type { NewLead } from "./bindings/NewLead";
import type { LeadSubmission } from "./bindings/LeadSubmission";
import type { Mapping } from "./bindings/Mapping";
import type { ImportMode } from "./bindings/ImportMode";
import type { ReviewClass } from "./bindings/ReviewClass";
import type { ResultsKind } from "./bindings/ResultsKind";

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

async function call<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toErrorReport(err);
  }
}

/**
 * Follows the sync this app already runs (started by another screen or the interval) to its
 * end: its progress to `onProgress`, then its report (or its error, thrown). Resolves null when
 * no sync runs, or when it ended before this started to listen (the screen then shows the
 * status, which has its outcome).
 */
async function joinSync(onProgress: (p: SyncProgress) => void): Promise<SyncReport | null> {
  let settle: (report: SyncReport | null, error?: ErrorReport) => void = () => {};
  const ended = new Promise<SyncReport | null>((resolve, reject) => {
    settle = (report, error) => (error ? reject(error) : resolve(report));
  });
  const unlisten = await Promise.all([
    on("sync-progress", onProgress),
    on("sync-finished", (f) => ("report" in f ? settle(f.report) : settle(null, toErrorReport(f.error)))),
  ]);
  try {
    // Listening first, then asking: a sync that ends in between is not waited for forever.
    if (!(await call(() => commands.syncRunning()))) settle(null);
    return await ended;
  } finally {
    for (const stop of unlisten) stop();
  }
}

export const api = {
  diagnostics: () => call(() => commands.diagnostics()),
  connectionStatus: () => call(() => commands.connectionStatus()),
  verifyKey: (baseUrl: string, key: string) => call(() => commands.verifyKey(baseUrl, key)),
  saveProfile: (name: string, baseUrl: string, key: string, replace: boolean) =>
    call(() => commands.saveProfile(name, baseUrl, key, replace)),
  connectSandbox: () => call(() => commands.connectSandbox()),
  activateProfile: (name: string) => call(() => commands.activateProfile(name)),
  renameProfile: (from: string, to: string) => call(() => commands.renameProfile(from, to)),
  forgetProfile: (name: string) => call(() => commands.forgetProfile(name)),
  activity: (filter: LogFilter) => call(() => commands.activity(filter)),
  supportBundle: (id: number) => call(() => commands.supportBundle(id)),
  supportBundleSave: (id: number) => call(() => commands.supportBundleSave(id)),
  revealFile: (path: string) => call(() => commands.revealFile(path)),
  cancelJob: (id: string) => call(() => commands.cancelJob(id)),
  syncNow: (options: SyncOptions, onProgress: (p: SyncProgress) => void) => {
    const channel = new Channel<SyncProgress>();
    channel.onmessage = onProgress;
    return call(() => commands.syncNow(options, channel));
  },
  syncRunning: () => call(() => commands.syncRunning()),
  joinSync,
  overview: () => call(() => commands.overview()),
  syncStatus: () => call(() => commands.syncStatus()),
  syncInterval: () => call(() => commands.syncInterval()),
  syncSchedule: () => call(() => commands.syncSchedule()),
  setSyncInterval: (minutes: number) => call(() => commands.setSyncInterval(minutes)),
  backgroundSettings: () => call(() => commands.backgroundSettings()),
  setCloseToTray: (keep: boolean | null) => call(() => commands.setCloseToTray(keep)),
  answerClose: (keep: boolean) => call(() => commands.answerClose(keep)),
  setStartAtLogin: (enabled: boolean) => call(() => commands.setStartAtLogin(enabled)),
  syncDestination: () => call(() => commands.syncDestination()),
  setSyncDestination: (destination: SyncDestination, password: string) =>
    call(() => commands.setSyncDestination(destination, password)),
  testSyncDestination: (destination: SyncDestination, password: string) =>
    call(() => commands.testSyncDestination(destination, password)),
  syncDestinationStatus: () => call(() => commands.syncDestinationStatus()),
  syncVerify: (repair: boolean, onProgress: (p: VerifyProgress) => void) => {
    const channel = new Channel<VerifyProgress>();
    channel.onmessage = onProgress;
    return call(() => commands.syncVerify(repair, channel));
  },
  leadsSearch: (query: LeadQuery) => call(() => commands.leadsSearch(query)),
  leadDetail: (id: string) => call(() => commands.leadDetail(id)),
  leadEditValidate: (edit: LeadEdit) => call(() => commands.leadEditValidate(edit)),
  leadEdit: (edit: LeadEdit) => call(() => commands.leadEdit(edit)),
  exportsList: () => call(() => commands.exportsList()),
  exportStart: (updatedAfter: string | null, fields: string[] | null) =>
    call(() => commands.exportStart(updatedAfter, fields)),
  exportResume: (id: string) => call(() => commands.exportResume(id)),
  exportStopPolling: (id: string) => call(() => commands.exportStopPolling(id)),
  exportRemove: (id: string) => call(() => commands.exportRemove(id)),
  exportOpen: (id: string) => call(() => commands.exportOpen(id)),
  exportReveal: (id: string) => call(() => commands.exportReveal(id)),
  webhookEvents: () => call(() => commands.webhookEvents()),
  webhookCheckUrl: (url: string) => call(() => commands.webhookCheckUrl(url)),
  webhooksList: () => call(() => commands.webhooksList()),
  webhookSubmission: (draft: WebhookDraft) => call(() => commands.webhookSubmission(draft)),
  webhookCreate: (submission: WebhookSubmission) => call(() => commands.webhookCreate(submission)),
  webhookRotate: (id: string) => call(() => commands.webhookRotate(id)),
  webhookSaveSecret: () => call(() => commands.webhookSaveSecret()),
  webhookCopySecret: () => call(() => commands.webhookCopySecret()),
  webhookDismissSecret: () => call(() => commands.webhookDismissSecret()),
  webhookUpdate: (id: string, changes: WebhookChanges) =>
    call(() => commands.webhookUpdate(id, changes)),
  webhookDelete: (id: string) => call(() => commands.webhookDelete(id)),
  webhookDeliveries: (id: string) => call(() => commands.webhookDeliveries(id, null)),
  webhookRetryDelivery: (id: string, deliveryId: string) => call(() => commands.webhookRetryDelivery(id, deliveryId)),
  webhookCheckSignature: (check: SignatureCheck) =>
    call(() => commands.webhookCheckSignature(check)),
  receiverStart: (events: string[], onDelivery: (e: LiveEvent) => void) => {
    const channel = new Channel<LiveEvent>();
    channel.onmessage = onDelivery;
    return call(() => commands.receiverStart(events, channel));
  },
  receiverStop: () => call(() => commands.receiverStop()),
  receiverAvailable: () => call(() => commands.receiverAvailable()),
  leadValidate: (lead: NewLead) => call(() => commands.leadValidate(lead)),
  leadSubmission: (lead: NewLead) => call(() => commands.leadSubmission(lead)),
  leadCreate: (submission: LeadSubmission) => call(() => commands.leadCreate(submission)),
  importPickFile: () => call(() => commands.importPickFile()),
  importPreview: (path: string, mapping: Mapping | null, sheet: string | null = null) =>
    call(() => commands.importPreview(path, mapping, sheet)),
  importsList: () => call(() => commands.importsList()),
  importsUnassigned: () => call(() => commands.importsUnassigned()),
  importAssign: (id: string) => call(() => commands.importAssign(id)),
  importStage: (path: string, mapping: Mapping, sheet: string | null = null) =>
    call(() => commands.importStage(path, mapping, sheet)),
  importReview: (id: string, mode: ImportMode) => call(() => commands.importReview(id, mode)),
  importReviewRows: (id: string, cls: ReviewClass | null, offset: number, limit: number) =>
    call(() => commands.importReviewRows(id, cls, offset, limit)),
  importResume: (id: string) => call(() => commands.importResume(id)),
  importPause: (id: string) => call(() => commands.importPause(id)),
  importCancel: (id: string) => call(() => commands.importCancel(id)),
  importRetryFailed: (id: string) => call(() => commands.importRetryFailed(id)),
  importResultsFile: (id: string, kind: ResultsKind) => call(() => commands.importResultsFile(id, kind)),
  mirrorExport: (format: ExportFormat, query: LeadQuery) => call(() => commands.mirrorExport(format, query)),
};
