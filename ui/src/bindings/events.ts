// Generated from the command and event lists in src-tauri/src/ipc.rs by
// `UPDATE_BINDINGS=1 cargo test --test app bindings`. Do not edit by hand.
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { ExportEvent } from "./ExportEvent";
import type { ImportFinished } from "./ImportFinished";
import type { ImportProgress } from "./ImportProgress";
import type { SyncFinished } from "./SyncFinished";
import type { SyncProgress } from "./SyncProgress";

/** Every event the app emits: its name and payload. */
export interface AppEvents {
  /** A sync of the active workspace (started anywhere in the app) read another page. */
  "sync-progress": SyncProgress;
  /** A sync (by hand or by the interval) ended: its report or error. */
  "sync-finished": SyncFinished;
  /** An export job changed (status, polling, download progress). */
  "export-event": ExportEvent;
  /** An import run's progress. */
  "import-progress": ImportProgress;
  /** An import run ended: its summary or error. */
  "import-finished": ImportFinished;
  /** The main window was closed and the user has not chosen yet whether the app keeps syncing  in the tray: the UI asks (and answers with `answer_close`). */
  "close-requested": null;
}

export type AppEventName = keyof AppEvents;

/** Listens to one of the app's events; resolves to the function that stops listening. */
export function on<K extends AppEventName>(
  name: K,
  handler: (payload: AppEvents[K]) => void,
): Promise<UnlistenFn> {
  return listen<AppEvents[K]>(name, (event) => handler(event.payload));
}
