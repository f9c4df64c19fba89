import { copyText, h, toast } from "./dom";
import type { ErrorReport } from "./bindings/ErrorReport";

/// The one way an error is shown: message, code, and the request_id with a copy button.
export function errorPanel(report: ErrorReport, retry?: () => void): HTMLElement {
  const requestId = report.request_id;
  return h(
    "section",
    { class: "card error", role: "alert", "data-error-code": report.code },
    h("h2", {}, "Something went wrong"),
    h("p", {}, report.message),
    h("p", { class: "muted" }, "Error code: ", h("code", {}, report.code)),
    requestId
      ? h(
          "div",
          { class: "request-id" },
          h("span", {}, `request_id ${requestId}`),
          h(
            "button",
            {
              type: "button",
              "aria-label": "Copy request_id",
              onclick: async () => {
                toast((await copyText(requestId)) ? "request_id copied" : "Copy failed");
              },
            },
            "Copy",
          ),
        )
      : null,
    report.retryable && retry
      ? h("div", { class: "row" }, h("button", { type: "button", onclick: retry }, "Try again"))
      : null,
  );
}

export function fact(label: string, value: Node | string): [HTMLElement, HTMLElement] {
  return [h("dt", {}, label), h("dd", { "data-fact": label }, value)];
}
