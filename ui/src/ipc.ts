// The one door to the Rust side. Every command's error arrives as an ErrorReport
// ({code, message, request_id, retryable}); anything else (a missing command, a broken bridge)
// is normalised into the same shape so screens handle one type.
import { invoke } from "@tauri-apps/api/core";
import type { ErrorReport } from "./bindings/ErrorReport";
import type { Diagnostics } from "./bindings/Diagnostics";

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
};
