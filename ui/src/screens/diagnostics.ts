import { api } from "../ipc";
import { clear, h } from "../dom";
import { errorPanel, fact } from "../components";
import type { ErrorReport } from "../bindings/ErrorReport";

export async function renderDiagnostics(root: HTMLElement): Promise<void> {
  const body = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Checking…"));
  root.append(
    h("h1", { tabindex: "-1" }, "Diagnostics"),
    h("p", { class: "lead" }, "What support asks first: versions, platform, where data lives, whether the system keychain works, which API this app talks to, and through which proxy."),
    body,
    h("div", { class: "row" }, h("button", { type: "button", onclick: () => refresh() }, "Run checks again")),
  );

  async function refresh(): Promise<void> {
    body.setAttribute("aria-busy", "true");
    try {
      const d = await api.diagnostics();
      clear(body);
      const keychain = h(
        "span",
        {},
        h("span", { class: `badge ${d.keychain.reachable ? "ok" : "bad"}`, "data-keychain": d.keychain.reachable ? "reachable" : "unreachable" },
          d.keychain.reachable ? "Reachable" : "Not reachable"),
        " ",
        `${d.keychain.backend}: ${d.keychain.detail}`,
      );
      body.append(
        h(
          "section",
          { class: "card", "aria-label": "Diagnostics report" },
          h("dl", { class: "facts" },
            ...fact("App version", d.app_version),
            ...fact("Core version", d.core_version),
            ...fact("Operating system", `${d.os} (${d.arch})`),
            ...fact("Data folder", d.data_dir),
            ...fact("Keychain", keychain),
            ...fact("API base URL", d.base_url),
            ...fact("Trusted certificates", d.trust_store),
            ...fact("Proxy", d.proxy),
          ),
        ),
      );
    } catch (err) {
      clear(body);
      body.append(errorPanel(err as ErrorReport, () => void refresh()));
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  }
  await refresh();
}
