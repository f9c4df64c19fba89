// Connect: paste a key, verify it with /me, see what it opens and may do, save it (to the OS
// keychain, via the core), switch, rename, forget, or try the local sandbox.
import { api } from "../ipc";
import { clear, h } from "../dom";
import { timeElement } from "../time";
import { confirmDialog, errorPanel, fact, promptDialog } from "../components";
import { setConnection } from "../state";
import type { ConnectionStatus } from "../bindings/ConnectionStatus";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { KeyCheck } from "../bindings/KeyCheck";
import type { Action } from "../bindings/Action";

const DEFAULT_BASE_URL = "https://login.prospectb2b.com/api/public/v1";

export const ACTION_LABELS: Record<Action, string> = {
  read_leads: "Read leads",
  create_lead: "Create leads",
  update_lead: "Edit leads",
  import_leads: "Import leads",
  export_leads: "Export leads",
  view_webhooks: "View webhooks",
  manage_webhooks: "Manage webhooks",
};

export function keyCheckCard(check: KeyCheck): HTMLElement {
  const me = check.me;
  return h(
    "section",
    { class: "card", "aria-label": "Key details", "data-key-check": me.key_prefix },
    h("h2", {}, me.workspace.name),
    h(
      "dl",
      { class: "facts" },
      ...fact("Workspace", `${me.workspace.name} (${me.workspace.id})`),
      ...fact("Key", `${me.name} · ${me.key_prefix}`),
      ...fact("Role", me.membership.role),
      ...fact(
        "Access",
        me.read_only
          ? h("span", { class: "badge warn", "data-read-only": "true" }, "Read-only")
          : h("span", { class: "badge ok", "data-read-only": "false" }, "Read and write"),
      ),
      ...fact("Expires", me.expires_at ? timeElement(me.expires_at) : "Never"),
      ...fact("request_id", h("code", {}, check.request_id)),
    ),
    h("h3", {}, "Scopes"),
    h(
      "ul",
      { class: "scopes", "aria-label": "Scopes" },
      ...check.scopes.map((s) => h("li", { "data-scope": s.scope }, h("code", {}, s.scope), " — ", s.description)),
    ),
    h("h3", {}, "What this key can do"),
    h(
      "ul",
      { class: "permissions", "aria-label": "Permissions" },
      ...check.permissions.map((p) =>
        h(
          "li",
          { "data-action": p.action, "data-allowed": String(p.allowed) },
          h("span", { class: `badge ${p.allowed ? "ok" : "bad"}` }, p.allowed ? "Yes" : "No"),
          " ",
          ACTION_LABELS[p.action],
          p.reason ? h("span", { class: "muted" }, ` — ${p.reason}`) : null,
        ),
      ),
    ),
  );
}

export async function renderConnect(root: HTMLElement): Promise<void> {
  const statusBox = h("div", { id: "connection-status", "aria-live": "polite" });
  const profilesBox = h("div", { id: "profiles" });
  const resultBox = h("div", { id: "verify-result", "aria-live": "polite" });

  const nameInput = h("input", { id: "profile-name", type: "text", value: "My workspace", autocomplete: "off" });
  // Until the user types a name, a verified key suggests its workspace's name.
  let nameTyped = false;
  nameInput.addEventListener("input", () => {
    nameTyped = true;
  });
  const keyInput = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false", placeholder: "pb2b_live_…" });
  const baseUrlInput = h("input", { id: "base-url", type: "url", value: DEFAULT_BASE_URL, spellcheck: "false" });
  const showKey = h("button", { type: "button", "aria-pressed": "false", "aria-controls": "api-key" }, "Show");
  showKey.addEventListener("click", () => {
    const showing = keyInput.type === "text";
    keyInput.type = showing ? "password" : "text";
    showKey.textContent = showing ? "Show" : "Hide";
    showKey.setAttribute("aria-pressed", String(!showing));
  });
  const keyHint = h("p", { class: "muted field-hint", id: "api-key-hint" }, "The key is shown once when you create it in ProspectB2B (Settings › Integrations › API). It is stored in your system keychain, never in a file.");
  keyInput.setAttribute("aria-describedby", "api-key-hint");
  const keyProblem = h("p", { class: "field-error", id: "api-key-problem", role: "status" });
  keyInput.addEventListener("input", () => {
    const k = keyInput.value.trim();
    keyProblem.textContent = k && /\s/.test(k) ? "The key has spaces in it: paste the whole key exactly." : "";
  });

  const verifyButton = h("button", { type: "button" }, "Verify");
  const saveButton = h("button", { type: "button", class: "primary" }, "Save and connect");
  const sandboxButton = h("button", { type: "button", class: "primary", id: "try-sandbox" }, "Try the local sandbox");

  async function busy<T>(button: HTMLButtonElement, work: () => Promise<T>): Promise<T | undefined> {
    button.disabled = true;
    root.setAttribute("aria-busy", "true");
    try {
      return await work();
    } catch (err) {
      clear(resultBox);
      resultBox.append(errorPanel(err as ErrorReport));
      return undefined;
    } finally {
      button.disabled = false;
      root.setAttribute("aria-busy", "false");
    }
  }

  verifyButton.addEventListener("click", () =>
    void busy(verifyButton, async () => {
      const check = await api.verifyKey(baseUrlInput.value.trim(), keyInput.value.trim());
      if (!nameTyped) nameInput.value = check.me.workspace.name;
      clear(resultBox);
      resultBox.append(h("p", { class: "ok-text" }, "This key works. Save it to connect."), keyCheckCard(check));
    }),
  );
  saveButton.addEventListener("click", () =>
    void busy(saveButton, async () => {
      const [name, baseUrl, key] = [nameInput.value.trim(), baseUrlInput.value.trim(), keyInput.value.trim()];
      let status: ConnectionStatus;
      try {
        status = await api.saveProfile(name, baseUrl, key, false);
      } catch (err) {
        // A taken name: replacing its key is key rotation, so ask before doing it.
        if ((err as ErrorReport).code !== "profile_exists") throw err;
        const replace = await confirmDialog(
          `${(err as ErrorReport).message} Replace the key of “${name}” with this one?`,
          "Replace key",
        );
        if (!replace) return;
        status = await api.saveProfile(name, baseUrl, key, true);
      }
      keyInput.value = "";
      clear(resultBox);
      show(status);
      // Connected: to the Overview, where a workspace never synced starts its first sync.
      location.hash = "#/overview";
    }),
  );
  // Enter in any field of the form saves and connects, as the primary button does.
  for (const input of [nameInput, keyInput, baseUrlInput]) {
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        if (!saveButton.disabled) saveButton.click();
      }
    });
  }
  sandboxButton.addEventListener("click", () =>
    void busy(sandboxButton, async () => {
      show(await api.connectSandbox());
      // A new user exploring: straight to the Overview, where the first sync starts by itself.
      location.hash = "#/overview";
    }),
  );

  function show(status: ConnectionStatus): void {
    setConnection(status);
    clear(statusBox);
    if (status.profile) {
      statusBox.append(
        h(
          "p",
          { class: "connected", "data-active-profile": status.profile.name },
          h("span", { class: "badge ok" }, "Connected"),
          ` ${status.profile.name} · ${status.profile.base_url} · key ${status.profile.key_hint}`,
        ),
      );
    }
    if (status.error) statusBox.append(errorPanel(status.error, () => void refresh()));
    if (status.check) statusBox.append(keyCheckCard(status.check));
    clear(profilesBox);
    if (status.profiles.length === 0) return;
    profilesBox.append(
      h("h2", {}, "Saved profiles"),
      h(
        "ul",
        { class: "profiles", "aria-label": "Saved profiles" },
        ...status.profiles.map((p) => {
          const active = status.profile?.name === p.name;
          return h(
            "li",
            { class: "card profile", "data-profile": p.name },
            h("div", {}, h("strong", {}, p.name), active ? h("span", { class: "badge ok" }, " Active") : null,
              h("div", { class: "muted mono" }, `${p.base_url} · ${p.key_hint}`)),
            h(
              "div",
              { class: "row" },
              active ? null : h("button", { type: "button", "aria-label": `Use ${p.name}`, onclick: () => void run(() => api.activateProfile(p.name)) }, "Use"),
              h("button", {
                type: "button",
                "aria-label": `Rename ${p.name}`,
                onclick: async () => {
                  const to = await promptDialog(`New name for “${p.name}”`, p.name, "Rename");
                  if (to !== null && to.trim() !== p.name) await run(() => api.renameProfile(p.name, to));
                },
              }, "Rename"),
              p.sandbox ? null : h("button", {
                type: "button",
                "aria-label": `Replace key of ${p.name}`,
                onclick: () => {
                  nameInput.value = p.name;
                  baseUrlInput.value = p.base_url;
                  keyInput.value = "";
                  keyInput.focus();
                },
              }, "Replace key"),
              h("button", {
                type: "button",
                class: "danger",
                "aria-label": `Forget ${p.name}`,
                onclick: async () => {
                  const ok = await confirmDialog(`Forget “${p.name}”? Its key is deleted from the system keychain.`, "Forget");
                  if (ok) await run(() => api.forgetProfile(p.name));
                },
              }, "Forget"),
            ),
          );
        }),
      ),
    );
  }

  async function run(work: () => Promise<ConnectionStatus>): Promise<void> {
    try {
      show(await work());
    } catch (err) {
      clear(resultBox);
      resultBox.append(errorPanel(err as ErrorReport));
    }
  }

  async function refresh(): Promise<void> {
    await run(() => api.connectionStatus());
  }

  root.append(
    h("h1", { tabindex: "-1" }, "Connect"),
    h("p", { class: "lead" }, "Connect a ProspectB2B workspace with an API key, or explore every screen with the local sandbox first — no account needed."),
    statusBox,
    h("section", { class: "card", "aria-label": "Local sandbox" },
      h("h2", {}, "Try the local sandbox"),
      h("p", { class: "muted" }, "Starts a ProspectB2B API on this computer with demo leads, and connects to it. Nothing leaves your machine."),
      sandboxButton),
    h(
      "section",
      { class: "card", "aria-label": "Add a workspace" },
      h("h2", {}, "Add a workspace"),
      h("div", { class: "field" }, h("label", { for: "profile-name" }, "Profile name"), nameInput),
      h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), h("div", { class: "row" }, keyInput, showKey), keyHint, keyProblem),
      h("details", {}, h("summary", {}, "Advanced"), h("div", { class: "field" }, h("label", { for: "base-url" }, "Base URL"), baseUrlInput)),
      h("div", { class: "row" }, verifyButton, saveButton),
      resultBox,
    ),
    profilesBox,
  );
  // Profiles are shared with `pb2b` (a cron job or a terminal may log in or forget one while the
  // app is open): read them again whenever the window comes back to the front.
  const onFocus = (): void => {
    if (!root.isConnected) {
      window.removeEventListener("focus", onFocus);
      return;
    }
    void refresh();
  };
  window.addEventListener("focus", onFocus);
  await refresh();
}
