//! Tests of the app layer without a window: the IPC surface on Tauri's mock runtime, and the
//! generated TypeScript bindings.

mod bindings;
mod destination;
mod instance;
mod ipc;
mod support;
