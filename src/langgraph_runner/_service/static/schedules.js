/* The runs page, schedules section: the tenant's schedules, their next tick and last run,
 * kept live by polling; Delete stops a schedule (the runs it fired stay). */
"use strict";

(() => {
  const { el, api, when, fill, root } = LGR;
  const KEY = "langgraph-runner.api-key";
  const POLL_MS = 2000;
  const table = document.getElementById("schedules");
  let timer = null;

  function say(text, ok) {
    const p = document.getElementById("schedules-message");
    p.textContent = text || "";
    p.classList.toggle("ok", !!ok);
  }

  function runLink(runId) {
    if (!runId) return "";
    return el("a", { href: root + "/ui/runs/" + encodeURIComponent(runId), text: runId });
  }

  async function remove(schedule) {
    try {
      await fetchDelete(schedule.schedule_id);
      say("Deleted schedule " + schedule.schedule_id, true);
    } catch (error) {
      say(String(error.message || error));
    }
    refresh();
  }

  async function fetchDelete(id) {
    const response = await fetch(root + "/schedules/" + encodeURIComponent(id), {
      method: "DELETE",
      headers: { "X-API-Key": sessionStorage.getItem(KEY) || "" },
    });
    if (!response.ok && response.status !== 404) throw new Error("delete answered " + response.status);
  }

  function row(s) {
    const button = el("button", { type: "button", class: "quiet", text: "Delete" });
    button.addEventListener("click", () => remove(s));
    return el("tr", { "data-schedule": s.schedule_id },
      el("td", { class: "id", text: s.schedule_id }),
      el("td", { text: s.workflow }),
      el("td", { class: "cron", text: s.cron }),
      el("td", { class: "next", text: when(s.next_run_at) }),
      el("td", { class: "id" }, runLink(s.last_run_id)),
      el("td", { class: "fired", text: String(s.fired) }),
      el("td", {}, button));
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const page = await api("/schedules");
      fill(table, page.schedules.map(row));
      document.getElementById("schedules-empty").hidden = page.schedules.length > 0;
    } catch (error) {
      if (error.status === 401) return; // the key form is shown again
      say(String(error.message || error));
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  // runs.js asks for the key; this section starts once there is one.
  if (sessionStorage.getItem(KEY)) refresh();
  else document.getElementById("key-form").addEventListener("submit", () => setTimeout(refresh, 0));
})();
