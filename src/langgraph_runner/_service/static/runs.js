/* The runs list: the tenant's runs, newest first, filtered by status, kept live by polling. */
"use strict";

(() => {
  const { el, api, when, badge, say, fill, root } = LGR;
  const POLL_MS = 1000;
  const MOST = 500; // GET /runs answers at most 500 runs a page
  const asked = parseInt(new URLSearchParams(location.search).get("limit") || "", 10);
  const PAGE = Number.isFinite(asked) ? Math.min(MOST, Math.max(1, asked)) : 100;
  let limit = PAGE;
  const select = document.getElementById("status");
  const table = document.getElementById("runs");
  let timer = null;
  let generation = 0;

  const wanted = new URLSearchParams(location.search).get("status");
  if (wanted !== null) select.value = wanted;

  /* A running run whose worker missed its heartbeat: it waits for another worker. */
  function deadWorker() {
    return el("span", { class: "badge st-dead", text: "worker dead", title: "its worker missed its heartbeat" });
  }

  function row(run) {
    const link = el("a", { href: root + "/ui/runs/" + encodeURIComponent(run.run_id), text: run.run_id });
    return el("tr", { "data-run": run.run_id, "data-status": run.status },
      el("td", { class: "id" }, link),
      el("td", { text: run.workflow || "" }),
      el("td", {}, badge(run.status), run.worker === "dead" ? deadWorker() : null),
      el("td", { text: when(run.started_at) }),
      el("td", { text: when(run.updated_at) }),
      el("td", { class: "cause", text: run.reason || "" }));
  }

  async function refresh(mine) {
    const params = new URLSearchParams({ limit: String(limit) });
    if (select.value) params.set("status", select.value);
    try {
      const page = await api("/runs?" + params.toString());
      if (mine !== generation) return;
      fill(table, page.runs.map(row));
      document.getElementById("empty").hidden = page.runs.length > 0;
      document.getElementById("more").hidden = page.next_before === null || limit >= MOST;
      document.getElementById("live").textContent = "live: updated " + new Date().toLocaleTimeString();
      say("");
    } catch (error) {
      if (mine !== generation) return;
      if (error.status === 401) return; // the key form is shown again
      say(String(error.message || error));
    }
    if (mine === generation) timer = setTimeout(() => refresh(mine), POLL_MS);
  }

  function start() {
    generation += 1;
    clearTimeout(timer);
    refresh(generation);
  }

  document.getElementById("more").addEventListener("click", () => {
    limit = Math.min(MOST, limit + PAGE);
    start();
  });

  select.addEventListener("change", () => {
    const url = new URL(location.href);
    if (select.value) url.searchParams.set("status", select.value);
    else url.searchParams.delete("status");
    history.replaceState(null, "", url);
    start();
  });

  LGR.withKey(start);
})();
