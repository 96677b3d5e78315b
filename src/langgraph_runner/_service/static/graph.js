/* A workflow's graph as SVG: its real edges (from GET /workflows/{name}), laid out top-down
 * in layers (longest path from the start; edges closing a cycle are drawn on the side), each
 * step in its status's colour with its own duration. */
"use strict";

const LGRGraph = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 170, H = 56, GAP_X = 26, GAP_Y = 50, PAD = 16, SIDE = 70, END_W = 76, END_H = 28;
  const START = "__start__", END = "__end__";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function names(workflow) {
    const all = [];
    const add = (n) => { if (!all.includes(n)) all.push(n); };
    if (workflow.edges.some((e) => e[0] === START)) add(START);
    workflow.nodes.forEach(add);
    workflow.edges.forEach((e) => { add(e[0]); add(e[1]); });
    return all;
  }

  /* Layers by longest path over the edges that close no cycle. */
  function layout(all, edges) {
    const out = new Map(all.map((n) => [n, []]));
    edges.forEach(([a, b]) => out.get(a).push(b));
    const state = new Map(), back = new Set();
    const visit = (n) => {
      state.set(n, 1);
      for (const b of out.get(n)) {
        if (state.get(b) === 1) back.add(n + "->" + b);
        else if (!state.has(b)) visit(b);
      }
      state.set(n, 2);
    };
    all.forEach((n) => { if (!state.has(n)) visit(n); });
    const forward = edges.filter(([a, b]) => !back.has(a + "->" + b) && a !== b);
    const layer = new Map(all.map((n) => [n, 0]));
    const indegree = new Map(all.map((n) => [n, 0]));
    forward.forEach(([, b]) => indegree.set(b, indegree.get(b) + 1));
    const ready = all.filter((n) => indegree.get(n) === 0);
    while (ready.length) {
      const n = ready.shift();
      forward.filter(([a]) => a === n).forEach(([, b]) => {
        layer.set(b, Math.max(layer.get(b), layer.get(n) + 1));
        indegree.set(b, indegree.get(b) - 1);
        if (indegree.get(b) === 0) ready.push(b);
      });
    }
    if (layer.has(END)) {
      const deepest = Math.max(0, ...all.filter((n) => n !== END).map((n) => layer.get(n)));
      layer.set(END, deepest + 1);
    }
    const rows = [];
    all.forEach((n) => { (rows[layer.get(n)] = rows[layer.get(n)] || []).push(n); });
    const placed = rows.filter((r) => r && r.length);
    // Order each row by where its parents sit (fewer crossings).
    const index = new Map();
    placed.forEach((row) => {
      const scores = new Map(row.map((n, i) => {
        const parents = forward.filter(([, b]) => b === n).map(([a]) => index.get(a)).filter((x) => x !== undefined);
        return [n, parents.length ? parents.reduce((s, x) => s + x, 0) / parents.length : i];
      }));
      row.sort((p, q) => scores.get(p) - scores.get(q));
      row.forEach((n, i) => index.set(n, i - (row.length - 1) / 2));
    });
    return { rows: placed, back };
  }

  function size(name) {
    return name === START || name === END ? [END_W, END_H] : [W, H];
  }

  function edgePath(a, b, pos, isBack) {
    const [ax, ay, aw, ah] = pos.get(a), [bx, by, bw, bh] = pos.get(b);
    if (a === b || isBack) {
      const x1 = ax + aw / 2, y1 = ay, x2 = bx + bw / 2, y2 = by;
      const out = Math.max(x1, x2) + SIDE * 0.8;
      return `M ${x1} ${y1} C ${out} ${y1}, ${out} ${y2}, ${x2 + 4} ${y2}`;
    }
    const x1 = ax, y1 = ay + ah / 2, x2 = bx, y2 = by - bh / 2 - 3;
    const mid = (y2 - y1) / 2;
    return `M ${x1} ${y1} C ${x1} ${y1 + mid}, ${x2} ${y2 - mid}, ${x2} ${y2}`;
  }

  /* Draws the graph into container; steps: name -> {status, duration_ms, cause}. */
  function draw(container, workflow, steps) {
    const all = names(workflow);
    const { rows, back } = layout(all, workflow.edges);
    const widest = Math.max(...rows.map((r) => r.reduce((s, n) => s + size(n)[0], 0) + GAP_X * (r.length - 1)));
    const width = widest + 2 * PAD + SIDE;
    const pos = new Map();
    let y = PAD;
    rows.forEach((row) => {
      const rowW = row.reduce((s, n) => s + size(n)[0], 0) + GAP_X * (row.length - 1);
      const rowH = Math.max(...row.map((n) => size(n)[1]));
      let x = PAD + (widest - rowW) / 2;
      row.forEach((n) => {
        const [w, h] = size(n);
        pos.set(n, [x + w / 2, y + rowH / 2, w, h]);
        x += w + GAP_X;
      });
      y += rowH + GAP_Y;
    });
    const height = y - GAP_Y + PAD;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "the workflow's graph" });
    root.style.maxWidth = width + "px";
    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 8, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
    defs.append(marker);
    root.append(defs);
    const edgeLayer = svg("g", { class: "edges" });
    workflow.edges.forEach(([a, b, conditional]) => {
      const path = svg("path", {
        d: edgePath(a, b, pos, back.has(a + "->" + b)),
        class: "edge" + (conditional ? " conditional" : ""),
        "data-edge": a + "->" + b,
        "marker-end": "url(#arrow)",
      });
      path.append(svg("title", {}, `${a} → ${b}${conditional ? " (conditional)" : ""}`));
      edgeLayer.append(path);
    });
    root.append(edgeLayer);
    all.forEach((n) => {
      const [cx, cy, w, h] = pos.get(n);
      if (n === START || n === END) {
        const g = svg("g", { class: "terminal-node", "data-node": n });
        g.append(svg("rect", { x: cx - w / 2, y: cy - h / 2, width: w, height: h, rx: h / 2, class: "terminal" }));
        g.append(svg("text", { x: cx, y: cy + 4, "text-anchor": "middle", class: "terminal-label" }, n === START ? "start" : "end"));
        root.append(g);
        return;
      }
      const step = steps.get(n) || { status: "pending" };
      const g = svg("g", { class: "node st-" + step.status, "data-node": n, "data-status": step.status });
      const tip = [n + ": " + step.status];
      if (step.duration_ms !== null && step.duration_ms !== undefined) tip.push(LGR.ms(step.duration_ms));
      if (step.cause) tip.push(step.cause);
      g.append(svg("title", {}, tip.join("\n")));
      g.append(svg("rect", { x: cx - w / 2, y: cy - h / 2, width: w, height: h, rx: 6, class: "box" }));
      const label = svg("text", { x: cx, y: cy - 4, "text-anchor": "middle", class: "name" }, n);
      if (n.length > 19) { label.setAttribute("textLength", w - 14); label.setAttribute("lengthAdjust", "spacingAndGlyphs"); }
      g.append(label);
      const meta = [step.status];
      if (step.duration_ms !== null && step.duration_ms !== undefined) meta.push(LGR.ms(step.duration_ms));
      g.append(svg("text", { x: cx, y: cy + 15, "text-anchor": "middle", class: "meta" }, meta.join(" · ")));
      root.append(g);
    });
    container.replaceChildren(root);
  }

  return { draw };
})();
