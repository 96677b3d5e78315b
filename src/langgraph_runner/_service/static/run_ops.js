/* A run's page, the operator's part: the run's input and output (redacted by the API),
 * the state of the worker holding it (a dead worker's run says so), and each step's
 * attempts, each failed one with its own error record. Read from the JSON API while the
 * run is live, and once more when it ended; sets body[data-ops=ready] after that last read. */
"use strict";

(() => {
  const { el, api, when, ms, badge, fill, LIVE } = LGR;
  const POLL_MS = 1000;
  const path = location.pathname;
  const runPath = "/runs/" + encodeURIComponent(decodeURIComponent(path.slice(path.lastIndexOf("/") + 1)));

  function json(id, value) {
    const box = document.getElementById(id);
    box.textContent = value === null || value === undefined ? "(none)" : JSON.stringify(value, null, 2);
  }

  function renderWorker(run) {
    const box = document.getElementById("worker");
    box.replaceChildren();
    box.hidden = !run.worker;
    if (!run.worker) return;
    const note = run.worker === "dead"
      ? " its worker missed its heartbeat: the run waits for another worker to resume it"
      : run.worker === "draining" ? " its worker is stopping: it finishes or hands the run back" : "";
    box.append("worker: ", badge(run.worker), note);
    box.dataset.worker = run.worker;
  }

  /* One attempt: its outcome, and for a failed one its own record (error type, code and
   * category, redacted message), its start, end and duration. */
  function attemptRow(step, a) {
    return el("tr", { "data-node": step, "data-attempt": a.number, "data-outcome": a.outcome, "data-task": a.task_id },
      el("td", { text: step }),
      el("td", { text: String(a.number) }),
      el("td", {}, badge(a.outcome)),
      el("td", { class: "error" }, el("span", {}, // one grid cell on a narrow screen
        a.error_type ? el("span", { class: "error-type", text: a.error_type }) : null,
        a.error_type && a.code ? " " : null,
        a.code ? el("span", { class: "code", text: [a.code, a.category].filter(Boolean).join(" / ") }) : null)),
      el("td", { class: "cause", text: a.message || "" }),
      el("td", { text: when(a.started_at) }),
      el("td", { text: when(a.ended_at) }),
      el("td", { class: "duration", text: ms(a.duration_ms) }));
  }

  /* The attempts a run did not keep (it keeps a step's first and latest ones). */
  function gapRow(step, from, to) {
    const text = from === to ? `attempt ${from} not kept` : `attempts ${from} to ${to} not kept`;
    return el("tr", { class: "gap", "data-node": step, "data-gap": `${from}-${to}` },
      el("td", { text: step }), el("td", { colSpan: 7, text }));
  }

  async function renderAttempts(run) {
    const rows = [];
    for (const step of run.steps.filter((s) => s.attempts > 0)) {
      const attempts = await api(runPath + "/steps/" + encodeURIComponent(step.name) + "/attempts");
      let before = null;
      for (const a of attempts) {
        if (before !== null && a.task_id === before.task_id && a.number > before.number + 1) {
          rows.push(gapRow(step.name, before.number + 1, a.number - 1));
        }
        rows.push(attemptRow(step.name, a));
        before = a;
      }
    }
    fill(document.getElementById("attempts"), rows);
  }

  async function refresh() {
    let run;
    try {
      run = await api(runPath);
    } catch (error) {
      if (error.status !== 401) setTimeout(refresh, POLL_MS); // the page itself says why
      return;
    }
    json("input", run.input);
    json("output", run.output);
    renderWorker(run);
    try {
      await renderAttempts(run);
    } catch (error) { /* a run that ended between two reads: the next read shows them */ }
    if (LIVE.includes(run.status)) setTimeout(refresh, POLL_MS);
    else document.body.dataset.ops = "ready";
  }

  // run.js owns the key form (LGR.withKey): read once a key is kept, or after it is given.
  document.getElementById("key-form").addEventListener("submit", () => setTimeout(refresh, 0));
  if (sessionStorage.getItem("langgraph-runner.api-key")) refresh();
})();
