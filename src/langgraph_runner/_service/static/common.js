/* The runs UI's shared code: the API key, JSON requests, live events, safe DOM building.
 *
 * The key is asked for once and kept in this tab's sessionStorage; every request sends it
 * in the X-API-Key header (never in a URL, never written to the console). Text from data is
 * always set with textContent: nothing read from the API is parsed as markup.
 */
"use strict";

const LGR = (() => {
  const KEY = "langgraph-runner.api-key";
  const root = document.querySelector('meta[name="lgr-root"]').content;
  const LIVE = ["pending", "running"];

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "class") node.className = value;
      else if (name.startsWith("data-")) node.setAttribute(name, String(value));
      else node[name] = value;
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  class ApiError extends Error {
    constructor(status, detail, field) {
      super(detail);
      this.status = status;
      this.field = field;
    }
  }

  function key() {
    return sessionStorage.getItem(KEY);
  }

  function askForKey(why) {
    sessionStorage.removeItem(KEY);
    document.getElementById("content").hidden = true;
    document.getElementById("forget").hidden = true;
    const form = document.getElementById("key-form");
    document.getElementById("key-message").textContent = why || "";
    form.hidden = false;
    document.getElementById("key").focus();
  }

  /* Calls start() once a key is known (asking for it first if needed). */
  function withKey(start) {
    const form = document.getElementById("key-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = document.getElementById("key");
      sessionStorage.setItem(KEY, input.value);
      input.value = "";
      form.hidden = true;
      show();
      start();
    });
    document.getElementById("forget").addEventListener("click", () => {
      askForKey("");
      location.reload();
    });
    if (key()) {
      show();
      start();
    } else {
      askForKey("");
    }
  }

  function show() {
    document.getElementById("content").hidden = false;
    document.getElementById("forget").hidden = false;
  }

  function headers(extra) {
    return Object.assign({ "X-API-Key": key() || "" }, extra || {});
  }

  async function failure(response) {
    let detail = response.statusText, field = null;
    try {
      const body = await response.json();
      detail = body.detail || detail;
      field = body.field || null;
    } catch (e) { /* not JSON */ }
    if (response.status === 401) askForKey("The key was refused: " + detail);
    return new ApiError(response.status, detail, field);
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = headers(opts.body ? { "Content-Type": "application/json" } : {});
    const response = await fetch(root + path, opts);
    if (!response.ok) throw await failure(response);
    return response.json();
  }

  /* Server-sent events read with fetch (so the key travels in a header). Calls
   * onEvent(name, data) for each event; resolves when the stream ends. */
  async function events(path, onEvent) {
    const response = await fetch(root + path, { headers: headers({ Accept: "text/event-stream" }) });
    if (!response.ok) throw await failure(response);
    if (!response.body) throw new Error("no stream");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, data.join("\n"));
      }
    }
  }

  function when(epochSeconds) {
    if (epochSeconds === null || epochSeconds === undefined) return "";
    const d = typeof epochSeconds === "number" ? new Date(epochSeconds * 1000) : new Date(epochSeconds);
    return isNaN(d.getTime()) ? String(epochSeconds) : d.toLocaleString();
  }

  function ms(value) {
    if (value === null || value === undefined) return "";
    if (value < 1000) return Math.round(value) + " ms";
    if (value < 60000) return (value / 1000).toFixed(value < 10000 ? 2 : 1) + " s";
    return (value / 60000).toFixed(1) + " min";
  }

  function badge(status) {
    return el("span", { class: "badge st-" + status, text: status, "data-status": status });
  }

  /* Puts rows in a table's body, each cell labelled with its column (narrow screens show the label). */
  function fill(table, rows) {
    const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
    for (const row of rows) {
      [...row.children].forEach((cell, i) => cell.setAttribute("data-label", labels[i] || ""));
    }
    table.tBodies[0].replaceChildren(...rows);
  }

  function say(text, ok) {
    const p = document.getElementById("message");
    p.textContent = text || "";
    p.classList.toggle("ok", !!ok);
  }

  return { root, LIVE, el, api, events, withKey, when, ms, badge, say, fill, ApiError };
})();
