// The one door to the Rust side. Every command's error arrives as an ErrorReport
// ({code, message, request_id, retryable}); anything else (a missing command, a broken bridge)
// is normalised into the same shape so screens handle one type.
import { invoke } from "@tauri-apps/api/core";
import type { ErrorReport } from "./bindings/ErrorReport";
import type { Diagnostics } from "./bindings/Diagnostics";
import type { ConnectionStatus } from "./bindings/ConnectionStatus";
import type { KeyCheck } from "./bindings/KeyCheck";
import type { LoggedRequest } from "./bindings/LoggedRequest";
import type { LogFilter } from "./bindings/LogFilter";

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
  saveProfile: (name: string, baseUrl: string, key: string) =>
    call<ConnectionStatus>("save_profile", { name, baseUrl, key }),
  connectSandbox: () => call<ConnectionStatus>("connect_sandbox"),
  activateProfile: (name: string) => call<ConnectionStatus>("activate_profile", { name }),
  renameProfile: (from: string, to: string) => call<ConnectionStatus>("rename_profile", { from, to }),
  forgetProfile: (name: string) => call<ConnectionStatus>("forget_profile", { name }),
  activity: (filter: LogFilter) => call<LoggedRequest[]>("activity", { filter }),
  supportBundle: (id: number) => call<string>("support_bundle", { id }),
};
