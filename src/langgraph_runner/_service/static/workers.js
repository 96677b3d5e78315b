/* The workers page: each worker process on the run queue, its state and the runs it holds
 * (a count of every tenant's; the ids of the caller's own), kept live by polling. */
"use strict";

(() => {
  const { el, api, when, badge, say, fill, root } = LGR;
  const POLL_MS = 1000;
  const table = document.getElementById("workers");

  function runLinks(ids) {
    const cell = el("td", { class: "id" });
    ids.forEach((id, i) => {
      if (i) cell.append(", ");
      cell.append(el("a", { href: root + "/ui/runs/" + encodeURIComponent(id), text: id }));
    });
    return cell;
  }

  function row(w) {
    return el("tr", { "data-worker": w.worker_id, "data-state": w.state },
      el("td", { class: "id", text: w.worker_id }),
      el("td", {}, badge(w.state)),
      el("td", { text: w.host }),
      el("td", { text: String(w.pid) }),
      el("td", { text: String(w.threads) }),
      el("td", { text: when(w.started_at) }),
      el("td", { text: when(w.heartbeat_at) }),
      el("td", { text: String(w.runs) }),
      runLinks(w.your_runs));
  }

  async function refresh() {
    try {
      const workers = await api("/workers");
      fill(table, workers.map(row));
      document.getElementById("empty").hidden = workers.length > 0;
      document.getElementById("live").textContent = "live: updated " + new Date().toLocaleTimeString();
      document.body.dataset.loaded = "true";
      say("");
    } catch (error) {
      if (error.status === 401) return; // the key form is shown again
      say(String(error.message || error));
    }
    setTimeout(refresh, POLL_MS);
  }

  LGR.withKey(refresh);
})();
