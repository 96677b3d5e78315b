/* A run's page: status, graph, timeline, steps with causes in full, budgets, artifacts,
 * Cancel and Rebuild. Live through the run's event stream; polling when a stream fails.
 * The graph is the shape the run stored when it started (not the workflow served now);
 * a running step's duration grows with the clock until the run says it ended. */
"use strict";

(() => {
  const { el, api, events, when, ms, badge, say, fill, root, LIVE } = LGR;
  const RETRYABLE = ["failed", "cancelled", "abandoned", "blocked"];
  const POLL_MS = 1000;
  const TICK_MS = 500; // a running step's duration is redrawn this often
  const path = location.pathname;
  const runId = decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
  const runPath = "/runs/" + encodeURIComponent(runId);
  let current = null;
  let workflow = null; // the workflow as served now, read once (its input's fields)
  let workflowMissing = false;
  let generation = 0;

  const sleep = (t) => new Promise((done) => setTimeout(done, t));

  async function shape(run) {
    if (workflow || workflowMissing || !run.workflow) return;
    try {
      workflow = await api("/workflows/" + encodeURIComponent(run.workflow));
      const fields = Object.keys((workflow.input_schema || {}).properties || {});
      if (fields.length) {
        document.getElementById("fields").textContent =
          "inputs: the fields of the workflow's input (" + fields.join(", ") +
          "); versions: step -> its new cache version";
      }
    } catch (error) {
      if (error.status === 401) throw error;
      workflowMissing = true;
    }
  }

  function fact(name, value) {
    return el("div", {}, el("dt", { text: name }), el("dd", { text: value }));
  }

  // The run's trace: a link to the trace backend when the app was given trace_link=.
  const TRACE_LINK = document.querySelector('meta[name="lgr-trace-link"]').content;

  function traceFact(traceId) {
    if (!traceId) return fact("trace", "");
    const value = TRACE_LINK
      ? el("a", {
        id: "trace-link", href: TRACE_LINK.split("{trace_id}").join(encodeURIComponent(traceId)),
        rel: "noreferrer noopener", target: "_blank", text: traceId,
      })
      : el("span", { id: "trace-id", text: traceId });
    return el("div", {}, el("dt", { text: "trace" }), el("dd", {}, value));
  }

  function renderHead(run) {
    document.title = (run.workflow || "run") + " · " + run.status;
    document.getElementById("workflow").textContent = run.workflow || "(no workflow)";
    document.getElementById("status").replaceWith(Object.assign(badge(run.status), { id: "status" }));
    const total = run.steps_total === null || run.steps_total === undefined ? "?" : run.steps_total;
    document.getElementById("facts").replaceChildren(
      fact("run", run.run_id),
      fact("thread", run.thread_id || ""),
      fact("steps", `${run.steps_done} of ${total}`),
      fact("started", when(run.started_at)),
      fact("updated", when(run.updated_at)),
      traceFact(run.trace_id));
    document.getElementById("reason").textContent = run.reason || "";
    document.getElementById("cancel").disabled = !LIVE.includes(run.status);
    document.getElementById("rebuild").disabled = run.status !== "completed";
    document.getElementById("retry").disabled = !RETRYABLE.includes(run.status);
    const asked = Array.isArray(run.interrupts) ? run.interrupts : [];
    document.getElementById("interrupt").hidden = !(run.status === "interrupted" && asked.length);
    document.getElementById("questions").replaceChildren(...asked.map((q) => el("li", {
      class: "question", text: typeof q.value === "string" ? q.value : JSON.stringify(q.value),
    })));
  }

  /* Steps with a running step's duration so far (from its start to this moment). */
  function liveSteps(run) {
    const now = Date.now();
    return run.steps.map((s) => {
      if (s.status !== "running" || !s.started_at) return s;
      return Object.assign({}, s, { duration_ms: Math.max(0, now - Date.parse(s.started_at)) });
    });
  }

  function renderGraph(run, live) {
    const steps = new Map(live.map((s) => [s.name, s]));
    const box = document.getElementById("graph");
    if (run.graph) {
      LGRGraph.draw(box, run.graph, steps); // the shape the run started with
    } else if (workflow) {
      LGRGraph.draw(box, workflow, steps);
      box.prepend(el("p", { class: "quiet", text: "The run stored no shape: drawn from the workflow served now." }));
    } else {
      // Not served here any more: its steps, without edges (none are guessed).
      LGRGraph.draw(box, { nodes: run.steps.map((s) => s.name), edges: [] }, steps);
      box.prepend(el("p", { class: "quiet", text: "The workflow is not served here: its edges are unknown." }));
    }
  }

  function renderTimeline(live) {
    const starts = live.filter((s) => s.started_at).map((s) => Date.parse(s.started_at));
    const t0 = starts.length ? Math.min(...starts) : 0;
    const ends = live.filter((s) => s.started_at)
      .map((s) => Date.parse(s.started_at) + (s.duration_ms || 0));
    const span = Math.max(1, (ends.length ? Math.max(...ends) : 0) - t0);
    const rows = live.map((s) => {
      const track = el("div", { class: "track" });
      if (s.started_at) {
        const bar = el("div", { class: "bar st-" + s.status, title: `${s.name}: ${ms(s.duration_ms)}` });
        // True widths: a 0 ms step is a hairline (the CSS minimum), never wider than it
        // ran, and no bar passes the end of its track.
        const left = Math.min(100, Math.max(0, ((Date.parse(s.started_at) - t0) / span) * 100));
        const width = Math.max(0, Math.min(100 - left, ((s.duration_ms || 0) / span) * 100));
        bar.style.left = `min(${left}%, calc(100% - 2px))`;
        bar.style.width = width + "%";
        track.append(bar);
      }
      return el("div", { class: "row", "data-node": s.name, "data-status": s.status },
        el("span", { class: "label", text: s.name }), track,
        el("span", { class: "ms", text: s.started_at ? ms(s.duration_ms) : "not run" }));
    });
    if (starts.length) rows.push(timeAxis(span));
    document.getElementById("timeline").replaceChildren(...rows);
  }

  function timeAxis(span) {
    // Ticks at each quarter of the run's span, and the total duration on the left.
    const track = el("div", { class: "track axis-track" });
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const tick = el("span", { class: "tick", text: ms(span * f) });
      tick.style.left = f * 100 + "%";
      tick.style.transform = f === 0 ? "none" : f === 1 ? "translateX(-100%)" : "translateX(-50%)";
      track.append(tick);
    }
    return el("div", { class: "row axis", id: "time-axis" },
      el("span", { class: "label", id: "total-duration", text: `total ${ms(span)}` }), track,
      el("span", { class: "ms" }));
  }

  function renderSteps(live) {
    const rows = live.map((s) => el("tr", { "data-node": s.name, "data-status": s.status },
      el("td", { text: s.name }),
      el("td", {}, badge(s.status)),
      el("td", { text: s.attempts }),
      el("td", { text: s.started_at ? when(s.started_at) : "" }),
      el("td", { text: ms(s.duration_ms) }),
      el("td", { class: "cause", text: s.cause || "" })));
    fill(document.getElementById("steps"), rows);
  }

  function renderBudgets(run) {
    const attempts = run.steps.reduce((sum, s) => sum + (s.attempts || 0), 0);
    const lines = [
      el("div", { class: "budget", text: `steps: ${run.steps_done} of ${run.steps_total ?? "?"} done` }),
      el("div", { class: "budget", text: `attempts: ${attempts}` }),
    ];
    if (run.time_limit !== null && run.time_limit !== undefined) {
      lines.push(el("div", { class: "budget", id: "time-limit", text: `time limit: ${ms(run.time_limit * 1000)} a run` }));
    }
    for (const budget of Array.isArray(run.budgets) ? run.budgets : []) {
      const units = ["calls", "tokens", "cost"].map((unit) => {
        const spent = (budget.spent || {})[unit] || 0;
        const left = (budget.remaining || {})[unit];
        if (left === null || left === undefined) return spent ? `${unit} ${spent}` : null;
        return `${unit} ${spent} of ${spent + left}`;
      }).filter((x) => x);
      const where = `per ${budget.per}${budget.scope_id ? " " + budget.scope_id : ""}`;
      const text = `${budget.name} (${where}): ${units.join(", ") || "nothing spent"}` +
        (budget.exhausted ? " · exhausted" : "");
      lines.push(el("div", { class: "budget" + (budget.exhausted ? " exhausted" : ""),
        "data-budget": budget.name || "", text }));
    }
    document.getElementById("budgets").replaceChildren(...lines);
  }

  async function renderArtifacts() {
    try {
      const found = await api(runPath + "/artifacts");
      const rows = found.map((a) => el("tr", {},
        el("td", { text: a.step || "(final state)" }), el("td", { text: a.name }), el("td", { text: a.path })));
      fill(document.getElementById("artifacts"), rows);
    } catch (error) {
      if (error.status !== 401) say(String(error.message || error));
    }
  }

  function renderLive(run) {
    const live = liveSteps(run);
    renderGraph(run, live);
    renderTimeline(live);
    renderSteps(live);
  }

  function render(run) {
    current = run;
    renderHead(run);
    renderLive(run);
    renderBudgets(run);
  }

  setInterval(() => {
    if (current && current.steps.some((s) => s.status === "running")) renderLive(current);
  }, TICK_MS);

  async function follow(mine) {
    if (LIVE.includes(current.status)) {
      try {
        await events(runPath + "/events", (name, data) => {
          if (mine === generation && name === "run") render(JSON.parse(data));
        });
      } catch (error) {
        if (error.status === 401) return;
      }
      // The stream ended with the run, or broke: poll while it is still live.
      while (mine === generation && LIVE.includes(current.status)) {
        await sleep(POLL_MS);
        try {
          if (mine === generation) render(await api(runPath));
        } catch (error) {
          if (error.status === 401) return;
          say(String(error.message || error));
        }
      }
    }
    if (mine === generation) {
      document.body.dataset.ended = "true";
      await renderArtifacts();
    }
  }

  async function start() {
    generation += 1;
    const mine = generation;
    try {
      const run = await api(runPath);
      await shape(run);
      if (mine !== generation) return;
      render(run);
    } catch (error) {
      if (error.status !== 401) say(String(error.message || error));
      return;
    }
    follow(mine);
  }

  document.getElementById("cancel").addEventListener("click", async () => {
    try {
      const answer = await api(runPath + "/cancel", { method: "POST" });
      say("Cancel asked: the run starts no further step (now " + answer.status + ").", true);
      if (!LIVE.includes(answer.status)) start();
    } catch (error) {
      if (error.status !== 401) say("Cancel refused: " + error.message);
    }
  });

  document.getElementById("rebuild").addEventListener("click", async () => {
    let change;
    try {
      change = JSON.parse(document.getElementById("change").value || "{}");
    } catch (error) {
      say("The change request is not JSON: " + error.message);
      return;
    }
    try {
      const answer = await api(runPath + "/update", { method: "POST", body: JSON.stringify(change) });
      const plan = answer.plan || {};
      const list = (xs) => (xs && xs.length ? xs.join(", ") : "none");
      say(`Rebuild started. rerun: ${list(plan.rerun)}; maybe: ${list(plan.maybe)}; reused: ${list(plan.reused)}. `, true);
      document.getElementById("message").append(el("a", {
        id: "rebuilt", href: root + "/ui/runs/" + encodeURIComponent(answer.run_id), text: "Open the rebuilt run",
      }));
    } catch (error) {
      if (error.status !== 401) say("Rebuild refused" + (error.field ? ` (${error.field})` : "") + ": " + error.message);
    }
  });

  /* Resume and retry each queue a new run on this thread: open it. */
  async function followUp(path, body, done) {
    try {
      const answer = await api(runPath + path, { method: "POST", body });
      say(done, true);
      document.getElementById("message").append(el("a", {
        id: "followed", href: root + "/ui/runs/" + encodeURIComponent(answer.run_id), text: "Open the new run",
      }));
    } catch (error) {
      if (error.status !== 401) say("Refused" + (error.field ? ` (${error.field})` : "") + ": " + error.message);
    }
  }

  document.getElementById("retry").addEventListener("click", () =>
    followUp("/retry", undefined, "Retry started: a new run goes on from the last checkpoint. "));

  document.getElementById("resume").addEventListener("click", () => {
    let value;
    try {
      value = JSON.parse(document.getElementById("answer").value);
    } catch (error) {
      say("The answer is not JSON: " + error.message);
      return;
    }
    followUp("/resume", JSON.stringify({ value }), "Resumed: a new run goes on with the answer. ");
  });

  LGR.withKey(start);
})();
