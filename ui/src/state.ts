// The connection everyone reads: the active profile and what its key may do. Screens ask
// `can(action)` before offering an action; the core checks again on every call.
import type { ConnectionStatus } from "./bindings/ConnectionStatus";
import type { Action } from "./bindings/Action";

let current: ConnectionStatus | null = null;
const listeners = new Set<(status: ConnectionStatus | null) => void>();

export function connection(): ConnectionStatus | null {
  return current;
}

export function setConnection(status: ConnectionStatus | null): void {
  current = status;
  for (const listener of listeners) listener(status);
}

export function onConnection(listener: (status: ConnectionStatus | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Whether the active key may perform `action`, and why not. */
export function can(action: Action): { allowed: boolean; reason: string | null } {
  const check = current?.check;
  if (!check) return { allowed: false, reason: "Connect a workspace first" };
  const permission = check.permissions.find((p) => p.action === action);
  if (!permission) return { allowed: false, reason: "Unknown action" };
  return { allowed: permission.allowed, reason: permission.reason };
}
