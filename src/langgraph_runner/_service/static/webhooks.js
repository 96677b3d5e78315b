/* A run's page, webhook section: where the run's end is posted and every attempt
 * (status code, error, time), read from GET /runs/{id}/webhooks, polled while the
 * delivery is not settled. */
"use strict";

(() => {
  const { el, api, when, ms, fill } = LGR;
  const POLL_MS = 2000;
  const SETTLED = ["none", "delivered", "failed"];
  const path = location.pathname;
  const runId = decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
  const table = document.getElementById("webhook-attempts");
  const summary = document.getElementById("webhook");

  function attempt(a) {
    return el("tr", { "data-attempt": a.attempt },
      el("td", { text: String(a.attempt) }),
      el("td", { text: when(a.at) }),
      el("td", { class: "code", text: a.status_code === null ? "no answer" : String(a.status_code) }),
      el("td", { class: "cause", text: a.error || "" }),
      el("td", { text: ms(a.duration_ms) }),
      el("td", { class: "id", text: a.url }));
  }

  function describe(hook) {
    if (hook.state === "none") return "No webhook for this run.";
    let text = hook.state + ": " + hook.url;
    if (hook.next_attempt_at) text += " (next attempt " + when(hook.next_attempt_at) + ")";
    if (hook.delivered_at) text += " (delivered " + when(hook.delivered_at) + ")";
    return text;
  }

  async function refresh() {
    let hook;
    try {
      hook = await api("/runs/" + encodeURIComponent(runId) + "/webhooks");
    } catch (error) {
      if (error.status === 401) return;
      summary.textContent = "Webhook: " + String(error.message || error);
      setTimeout(refresh, POLL_MS);
      return;
    }
    summary.textContent = describe(hook);
    summary.setAttribute("data-state", hook.state);
    fill(table, hook.attempts.map(attempt));
    table.hidden = hook.attempts.length === 0;
    if (!SETTLED.includes(hook.state)) setTimeout(refresh, POLL_MS);
  }

  if (sessionStorage.getItem("langgraph-runner.api-key")) refresh();
  else document.getElementById("key-form").addEventListener("submit", () => setTimeout(refresh, 0));
})();
