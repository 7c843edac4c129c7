/* cnnsim explorer: draws a traced network and explains any neuron of its exact layers.
 *
 * Data: window.CNNSIM_TRACE (see cnnsim/explorer/payload.py). A neuron's explanation is
 * computed here in float64 from the exact float32 arrays, with the formulas of
 * cnnsim.engine.connections (the lecture's): e.g. a convolution neuron
 *   z = b[f] + sum_{c in maps(f)} sum_{u,v} w[f,c,u,v] x[c, i*s_h - p_t + u, j*s_w - p_l + v]
 * and y = act(z). No network request is made; everything is in this file.
 */
(function () {
  "use strict";
  const D = window.CNNSIM_TRACE;
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };
  const SVGNS = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs) => {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  };

  // ---- arrays ---------------------------------------------------------------------
  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const cache = new WeakMap();
  function f32(a) {          // {shape, f32} -> {shape, data: Float32Array}
    if (!a) return null;
    if (!cache.has(a)) cache.set(a, { shape: a.shape, data: new Float32Array(bytes(a.f32).buffer) });
    return cache.get(a);
  }
  function u8(a) {
    if (!a) return null;
    if (!cache.has(a)) cache.set(a, { shape: a.shape, lo: a.lo, hi: a.hi, data: bytes(a.u8) });
    return cache.get(a);
  }
  const at3 = (a, c, i, j) => a.data[(c * a.shape[1] + i) * a.shape[2] + j];
  const fmt = (v) => (v == null || Number.isNaN(v)) ? String(v) :
    (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)) ? v.toExponential(3) : v.toFixed(4);
  const shapeStr = (s) => "(" + s.join(", ") + ")";

  // ---- activations (float64, as cnnsim.layers.explain.act64) ---------------------------
  function act(name, z, allZ) {
    switch (name) {
      case null: case undefined: case "linear": return z;
      case "relu": return Math.max(z, 0);
      case "sigmoid": return 1 / (1 + Math.exp(-z));
      case "tanh": return Math.tanh(z);
      case "scaled_tanh": return 1.7159 * Math.tanh(2 * z / 3);
      case "softmax": {
        const m = Math.max(...allZ); let s = 0;
        for (const v of allZ) s += Math.exp(v - m);
        return Math.exp(z - m) / s;
      }
    }
    throw new Error("unknown activation " + name);
  }

  // ---- the window rule (cnnsim.geometry.window_span) --------------------------------
  function windowOf(st, i, j) {
    const [fh, fw] = st.kernel, [sh, sw] = st.stride, p = st.padding;
    return { r0: i * sh - p[0], c0: j * sw - p[2], fh, fw };
  }

  // ---- explanations: one per layer type ---------------------------------------------
  // Each returns {sum, output, scale, formula, terms: [[label, value, weight, product]],
  // window: {src, maps, r0, c0, fh, fw} (what to highlight), winner}
  const EXPLAIN = {
    Conv2D(st, m, i, j) {
      const x = f32(st.inputs[0]), w = f32(st.params.w), b = st.params.b ? f32(st.params.b) : null;
      const { r0, c0, fh, fw } = windowOf(st, i, j);
      const [, H, W] = x.shape, wc = w.shape[1];
      const chans = st.channel_lists ? st.channel_lists[m] : [...Array(x.shape[0]).keys()];
      const terms = []; let sum = 0, scale = 0;
      for (const c of chans) for (let u = 0; u < fh; u++) for (let v = 0; v < fw; v++) {
        const r = r0 + u, q = c0 + v, pad = r < 0 || r >= H || q < 0 || q >= W;
        const xv = pad ? 0 : at3(x, c, r, q);
        const wv = w.data[((m * wc + (c % wc)) * fh + u) * fw + v];
        const p = xv * wv; sum += p; scale += Math.abs(p);
        terms.push({ label: `x[${c},${r},${q}]`, x: xv, w: wv, p, pad });
      }
      const bias = b ? b.data[m] : 0;
      sum += bias; scale += Math.abs(bias);
      return { terms, bias, z: sum, output: act(st.activation, sum), scale,
        formula: `z = b[${m}] + Σ w·x over ${chans.length} map(s) × ${fh}×${fw};  y = ${st.activation || "linear"}(z)`,
        window: { src: 0, maps: chans, r0, c0, fh, fw } };
    },
    MaxPool2D(st, m, i, j) { return pool(st, m, i, j, "max"); },
    AvgPool2D(st, m, i, j) { return pool(st, m, i, j, "avg"); },
    Subsampling(st, m, i, j) {
      const e = pool(st, m, i, j, "avg");
      const coef = f32(st.params.coef).data[m], bias = f32(st.params.bias).data[m];
      const z = coef * e.output + bias;
      return Object.assign(e, { bias, z, output: act(st.activation, z),
        scale: Math.abs(coef) * e.scale / Math.max(e.count, 1) + Math.abs(bias),
        formula: `y = ${st.activation}(coef[${m}] · mean(window) + bias[${m}]) = ${st.activation}(${fmt(coef)} · ${fmt(e.output)} + ${fmt(bias)})` });
    },
    GlobalAvgPool(st, m) {
      const x = f32(st.inputs[0]), [, H, W] = x.shape; let s = 0, sc = 0;
      for (let r = 0; r < H; r++) for (let q = 0; q < W; q++) { const v = at3(x, m, r, q); s += v; sc += Math.abs(v); }
      return { terms: [], z: s / (H * W), output: s / (H * W), scale: sc,
        formula: `y = mean of map ${m} (${H}×${W} = ${H * W} values)`, window: { src: 0, maps: [m], r0: 0, c0: 0, fh: H, fw: W } };
    },
    Dense(st, u) {
      const x = f32(st.inputs[0]), w = f32(st.params.w), b = st.params.b ? f32(st.params.b) : null;
      const n = x.data.length, U = w.shape[1];
      const terms = []; let sum = 0, scale = 0;
      for (let k = 0; k < n; k++) {
        const p = x.data[k] * w.data[k * U + u]; sum += p; scale += Math.abs(p);
        terms.push({ label: `x[${k}]`, x: x.data[k], w: w.data[k * U + u], p });
      }
      const bias = b ? b.data[u] : 0; sum += bias; scale += Math.abs(bias);
      let allZ = null;
      if (st.activation === "softmax") {
        allZ = [];
        for (let v = 0; v < U; v++) { let z = b ? b.data[v] : 0; for (let k = 0; k < n; k++) z += x.data[k] * w.data[k * U + v]; allZ.push(z); }
      }
      terms.sort((a, c) => Math.abs(c.p) - Math.abs(a.p));
      return { terms, bias, z: sum, output: act(st.activation, sum, allZ), scale, ranked: true,
        formula: `z = b[${u}] + Σ_k x[k] · w[k, ${u}] over ${n} inputs;  y = ${st.activation || "linear"}(z)` };
    },
    RBF(st, u) {
      const x = f32(st.inputs[0]), w = f32(st.params.w), n = x.data.length;
      const terms = []; let s = 0;
      for (let k = 0; k < n; k++) { const d = x.data[k] - w.data[u * n + k]; s += d * d; terms.push({ label: `x[${k}]`, x: x.data[k], w: w.data[u * n + k], p: d * d }); }
      terms.sort((a, c) => c.p - a.p);
      return { terms, z: s, output: s, scale: s, ranked: true, square: true,
        formula: `y = Σ_j (x_j − w[${u}, j])²: a penalty, the smallest wins` };
    },
    LRN(st, m, i, j) {
      const x = f32(st.inputs[0]), C = x.shape[0], f = st.facts;
      const lo = Math.max(0, m - Math.floor(f.r / 2)), hi = Math.min(m + Math.floor(f.r / 2), C - 1);
      const terms = []; let ss = 0;
      for (let c = lo; c <= hi; c++) { const a = at3(x, c, i, j); ss += a * a; terms.push({ label: `a[${c}]`, x: a, p: a * a, own: c === m }); }
      const s = f.k + f.alpha * ss, a = at3(x, m, i, j), y = a * Math.pow(s, -f.beta);
      return { terms, square: true, z: s, output: y, scale: Math.abs(y),
        formula: `b_i = a_i (k + α Σ_{j=${lo}}^{${hi}} a_j²)^(−β) = ${fmt(a)} · (${f.k} + ${f.alpha} · ${fmt(ss)})^(−${f.beta}) = ${fmt(a)} · ${fmt(s)}^(−${f.beta})`,
        window: { src: 0, maps: [...Array(hi - lo + 1).keys()].map((k) => k + lo), r0: i, c0: j, fh: 1, fw: 1 } };
    },
    Add(st, m, i, j) {
      const vec = st.output_shape.length === 1;
      const names = st.sources.map((s) => s < 0 ? "input" : D.steps[s].name);
      const terms = st.inputs.map((a, k) => { const t = f32(a); const v = vec ? t.data[m] : at3(t, m, i, j);
        return { label: names[k], x: v, p: v }; });
      const z = terms.reduce((s, t) => s + t.x, 0);
      return { terms, z, output: act(st.activation, z), scale: terms.reduce((s, t) => s + Math.abs(t.x), 0),
        formula: `y = ${st.activation || "linear"}(${names.join(" + ")}): the skip connection adds its input unchanged` };
    },
    DepthConcat(st, m, i, j) {
      let k = 0, ch = m;
      while (ch >= st.input_shape[k][0]) { ch -= st.input_shape[k][0]; k++; }
      const src = st.sources[k], t = f32(st.inputs[k]);
      const v = t.shape.length === 1 ? t.data[ch] : at3(t, ch, i, j);
      return { terms: [{ label: `${src < 0 ? "input" : D.steps[src].name} map ${ch}`, x: v, p: v }], z: v, output: v, scale: Math.abs(v),
        formula: `map ${m} is map ${ch} of branch ${k + 1} (${src < 0 ? "input" : D.steps[src].name}), copied`, branch: k, window: { src: k, maps: [ch], r0: i, c0: j, fh: 1, fw: 1 } };
    },
    Flatten(st, u) {
      const t = f32(st.inputs[0]), v = t.data[u], s = t.shape;
      let idx = `${u}`;
      if (s.length === 3) { const c = Math.floor(u / (s[1] * s[2])), r = Math.floor(u / s[2]) % s[1], q = u % s[2]; idx = `map ${c}, row ${r}, col ${q}`; }
      return { terms: [{ label: idx, x: v, p: v }], z: v, output: v, scale: Math.abs(v), formula: `unit ${u} is input ${idx}` };
    },
    Activation(st, m, i, j) { return point(st, m, i, j, (v, all) => act(st.activation, v, all), `y = ${st.activation}(x)`); },
    Dropout(st, m, i, j) { return point(st, m, i, j, (v) => v, "inference: y = x (dropout only acts in training)"); },
    BatchNorm(st, m, i, j) {
      const p = st.params, g = p.gamma ? f32(p.gamma).data[m] : 1, bt = p.beta ? f32(p.beta).data[m] : 0;
      const mu = f32(p.running_mean).data[m], vr = f32(p.running_var).data[m], eps = st.facts.eps ?? 1e-5;
      return point(st, m, i, j, (v) => g * (v - mu) / Math.sqrt(vr + eps) + bt,
        `y = γ (x − μ) / √(σ² + ε) + β  with running μ=${fmt(mu)}, σ²=${fmt(vr)}, γ=${fmt(g)}, β=${fmt(bt)}`);
    },
  };

  function pool(st, m, i, j, how) {
    const x = f32(st.inputs[0]), [, H, W] = x.shape;
    const { r0, c0, fh, fw } = windowOf(st, i, j);
    const terms = []; let best = -Infinity, win = null, s = 0, n = 0, sc = 0;
    for (let u = 0; u < fh; u++) for (let v = 0; v < fw; v++) {
      const r = r0 + u, q = c0 + v, pad = r < 0 || r >= H || q < 0 || q >= W;
      const xv = pad ? 0 : at3(x, m, r, q);
      terms.push({ label: `x[${m},${r},${q}]`, x: xv, pad });
      if (!pad) { n++; s += xv; sc += Math.abs(xv); if (xv > best) { best = xv; win = terms.length - 1; } }
    }
    const window = { src: 0, maps: [m], r0, c0, fh, fw };
    if (n === 0) return { terms, z: 0, output: 0, scale: 0, count: 0, window, formula: "the window lies entirely in padding: y = 0" };
    if (how === "max") {
      terms[win].winner = true;
      return { terms, z: best, output: best, scale: sc, count: n, winner: win, window,
        formula: `y = max of the ${n} real inputs in the window: 1 of ${n} passes, ${n - 1} dropped` };
    }
    return { terms, z: s / n, output: s / n, scale: sc, count: n, window,
      formula: `y = mean of the ${n} real inputs (padding not counted) = ${fmt(s)} / ${n}` };
  }

  function point(st, m, i, j, f, formula) {
    const t = f32(st.inputs[0]), vec = t.shape.length === 1;
    const v = vec ? t.data[m] : at3(t, m, i, j);
    const all = vec ? Array.from(t.data) : null;
    const y = f(v, all);
    return { terms: [{ label: "x", x: v, p: y }], z: v, output: y, scale: Math.abs(y), formula };
  }

  // ---- state ------------------------------------------------------------------------
  const S = { cur: 0, neuron: null, grad: false, collapsed: new Set(), last: null };
  const steps = D.steps;
  const blockOf = (st) => st.name.includes("/") ? st.name.split("/")[0] : null;
  const blocks = {};
  steps.forEach((st) => { const b = blockOf(st); if (b) (blocks[b] = blocks[b] || []).push(st.index); });
  if (steps.length > 60) Object.keys(blocks).forEach((b) => { if (blocks[b].length > 1) S.collapsed.add(b); });

  // ---- graph view -------------------------------------------------------------------
  function visibleNodes() {
    // a collapsed block is one node standing for all of its steps
    const rep = new Map();
    for (const st of steps) {
      const b = blockOf(st);
      rep.set(st.index, b && S.collapsed.has(b) ? "b:" + b : "s:" + st.index);
    }
    return rep;
  }

  function drawGraph() {
    const rep = visibleNodes();
    const ids = [...new Set(rep.values())];
    const srcs = new Map(ids.map((id) => [id, new Set()]));
    for (const st of steps) {
      const me = rep.get(st.index);
      for (const s of st.sources) {
        const from = s < 0 ? "input" : rep.get(s);
        if (from !== me) srcs.get(me).add(from);
      }
    }
    const level = new Map([["input", 0]]);
    for (const id of ids) {   // steps are in execution order: sources come first
      let l = 0;
      for (const s of srcs.get(id)) l = Math.max(l, (level.get(s) ?? 0) + 1);
      level.set(id, l);
    }
    const rows = new Map();
    for (const id of ["input", ...ids]) { const l = level.get(id); if (!rows.has(l)) rows.set(l, []); rows.get(l).push(id); }
    const NW = 150, NH = 38, GX = 14, GY = 26;
    const maxRow = Math.max(...[...rows.values()].map((r) => r.length));
    const width = Math.max(260, maxRow * (NW + GX) + GX);
    const pos = new Map();
    for (const [l, r] of rows) {
      const x0 = (width - r.length * (NW + GX) + GX) / 2;
      r.forEach((id, k) => pos.set(id, { x: x0 + k * (NW + GX), y: 10 + l * (NH + GY) }));
    }
    const height = 20 + (Math.max(...rows.keys()) + 1) * (NH + GY);
    const svg = svgEl("svg", { width, height, id: "graph" });
    for (const id of ids) for (const s of srcs.get(id)) {
      const a = pos.get(s), b = pos.get(id);
      const skip = level.get(id) - level.get(s) > 1;
      const x1 = a.x + NW / 2, y1 = a.y + NH, x2 = b.x + NW / 2, y2 = b.y;
      const bend = skip ? NW * 0.75 : 0;
      svg.append(svgEl("path", { class: "edge" + (skip ? " skip" : ""),
        d: `M${x1},${y1} C${x1 + bend},${y1 + GY} ${x2 + bend},${y2 - GY} ${x2},${y2}`, "data-from": s, "data-to": id }));
    }
    for (const id of ["input", ...ids]) {
      const p = pos.get(id);
      const g = svgEl("g", { class: "node", transform: `translate(${p.x},${p.y})` });
      let title, sub;
      if (id === "input") { title = "input"; sub = shapeStr(D.input_shape); g.dataset.step = "-1"; }
      else if (id.startsWith("b:")) {
        const b = id.slice(2), last = steps[blocks[b][blocks[b].length - 1]];
        title = `▸ ${b} (${blocks[b].length})`; sub = shapeStr(last.output_shape);
        g.classList.add("block"); g.dataset.block = b;
        if (blocks[b].includes(S.cur)) g.classList.add("selected");
      } else {
        const st = steps[+id.slice(2)]; g.dataset.step = st.index;
        title = st.name.split("/").slice(-2).join("/"); sub = `${st.title} ${shapeStr(st.output_shape)}`;
        if (st.index === S.cur) g.classList.add("selected");
      }
      g.append(svgEl("rect", { width: NW, height: NH }));
      const t1 = svgEl("text", { x: 6, y: 15 }); t1.textContent = title.length > 24 ? "…" + title.slice(-23) : title;
      const t2 = svgEl("text", { x: 6, y: 30, class: "shape" }); t2.textContent = sub.length > 26 ? sub.slice(0, 25) + "…" : sub;
      const tip = svgEl("title"); tip.textContent = id.startsWith("s:") ? steps[+id.slice(2)].name : title;
      g.append(t1, t2, tip);
      g.addEventListener("click", () => {
        if (g.dataset.block) { S.collapsed.delete(g.dataset.block); selectLayer(blocks[g.dataset.block][0]); }
        else if (+g.dataset.step >= 0) selectLayer(+g.dataset.step);
      });
      svg.append(g);
    }
    $("graph-pane").replaceChildren(svg);
    const selected = svg.querySelector(".node.selected");
    if (selected && selected.scrollIntoView) selected.scrollIntoView({ block: "nearest" });
  }

  // ---- maps -------------------------------------------------------------------------
  function colour(t, signed) {   // t in [0, 1]
    if (signed) {                // blue - white - red, zero in the middle
      const a = Math.abs(2 * t - 1), w = Math.round(255 * (1 - a));
      return t < 0.5 ? [w, w, 255] : [255, w, w];
    }
    const g = Math.round(255 * t); return [g, g, g];
  }
  function drawMap(canvas, m, c, scale, signed, zeroAt) {
    const [, H, W] = m.shape;
    canvas.width = W; canvas.height = H;
    canvas.style.width = W * scale + "px"; canvas.style.height = H * scale + "px";
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(W, H);
    for (let k = 0; k < H * W; k++) {
      const q = m.data[c * H * W + k] / 255;
      const t = signed ? (q - zeroAt) / (2 * Math.max(zeroAt, 1 - zeroAt)) + 0.5 : q;
      const [r, g, b] = colour(Math.min(1, Math.max(0, t)), signed);
      img.data.set([r, g, b, 255], 4 * k);
    }
    ctx.putImageData(img, 0, 0);
  }
  function colourbar(m, signed, label) {
    const cv = el("canvas", { width: 120, height: 10 }); const ctx = cv.getContext("2d");
    const zeroAt = m.hi > m.lo ? -m.lo / (m.hi - m.lo) : 0;
    for (let x = 0; x < 120; x++) {
      const q = x / 119, t = signed ? (q - zeroAt) / (2 * Math.max(zeroAt, 1 - zeroAt)) + 0.5 : q;
      const [r, g, b] = colour(Math.min(1, Math.max(0, t)), signed);
      ctx.fillStyle = `rgb(${r},${g},${b})`; ctx.fillRect(x, 0, 1, 10);
    }
    return el("div", { class: "colorbar" }, el("span", { text: `${label} ${fmt(m.lo)}` }), cv, el("span", { text: fmt(m.hi) }),
      el("span", { text: "(one colour scale for every map of this layer" + (signed ? "; white = 0)" : ")") }));
  }

  function mapGrid(st, key, onPick, highlight) {
    const m = u8(st[key]);
    if (!m) return el("p", { class: "hint", text: "This layer's maps were not stored (light trace)." });
    const box = el("div", {});
    if (m.shape.length === 1) {       // a vector: bars, not squares
      const n = m.shape[0], cv = el("canvas", { class: "map vector", "data-map": "v" });
      const bw = Math.max(3, Math.min(16, Math.floor(600 / n))), H = 80;
      cv.width = n * bw; cv.height = H; const ctx = cv.getContext("2d");
      const zero = m.hi > m.lo ? Math.max(0, Math.min(1, -m.lo / (m.hi - m.lo))) : 0;
      for (let k = 0; k < n; k++) {
        const t = m.data[k] / 255; ctx.fillStyle = k === highlight ? "#d9480f" : "#4263eb";
        const y0 = H * (1 - zero), y1 = H * (1 - t);
        ctx.fillRect(k * bw, Math.min(y0, y1), bw - 1, Math.max(1, Math.abs(y1 - y0)));
      }
      cv.addEventListener("click", (ev) => { const r = cv.getBoundingClientRect(); onPick(Math.min(n - 1, Math.floor((ev.clientX - r.left) / (r.width / n))), 0, 0); });
      box.append(colourbar(m, false, key === "grad" ? "dL/dy" : "value"), cv,
        el("div", { class: "hint", text: `${n} units; click a bar to explain that unit` }));
      return box;
    }
    const [C, H, W] = m.shape, signed = m.lo < 0 && m.hi > 0;
    const zeroAt = m.hi > m.lo ? -m.lo / (m.hi - m.lo) : 0;
    const scale = Math.max(1, Math.min(24, Math.floor(96 / Math.max(H, W))));
    box.append(colourbar(m, signed, key === "grad" ? "dL/dy" : "value"));
    const grid = el("div", { class: "maps" });
    const shown = Math.min(C, 256);
    for (let c = 0; c < shown; c++) {
      const cv = el("canvas", { class: "map", "data-map": c });
      drawMap(cv, m, c, scale, signed, zeroAt);
      cv.addEventListener("click", (ev) => {
        const r = cv.getBoundingClientRect();
        onPick(c, Math.min(H - 1, Math.floor((ev.clientY - r.top) / (r.height / H))), Math.min(W - 1, Math.floor((ev.clientX - r.left) / (r.width / W))));
      });
      const wrap = el("div", { class: "mapbox" }, cv, el("span", { text: `map ${c}` }));
      if (highlight && highlight(c, cv, scale)) cv.classList.add("read");
      grid.append(wrap);
    }
    box.append(grid);
    if (C > shown) box.append(el("p", { class: "hint", text: `${C - shown} more maps not drawn.` }));
    return box;
  }

  function outline(cv, scale, r0, c0, fh, fw, colourName) {
    // a rectangle drawn on an overlay canvas over a pixelated map
    const o = el("canvas", { width: cv.width * scale, height: cv.height * scale });
    o.style.position = "absolute"; o.style.left = "0"; o.style.top = "0"; o.style.pointerEvents = "none";
    const ctx = o.getContext("2d"); ctx.strokeStyle = colourName; ctx.lineWidth = 2;
    ctx.strokeRect(c0 * scale + 1, r0 * scale + 1, fw * scale - 2, fh * scale - 2);
    const holder = el("div", { style: "position:relative;display:inline-block" });
    cv.replaceWith(holder); holder.append(cv, o);
  }

  // ---- the layer view ---------------------------------------------------------------
  function facts(st) {
    const rows = [["type", st.title + (st.kind !== st.title ? ` (${st.kind})` : "")],
      ["input", Array.isArray(st.input_shape[0]) ? st.input_shape.map(shapeStr).join(" + ") : shapeStr(st.input_shape)],
      ["output", shapeStr(st.output_shape)]];
    if (st.kernel) rows.push(["kernel / stride", `${st.kernel.join("×")} / ${st.stride.join("×")}`], ["padding (t, b, l, r)", st.padding.join(", ")]);
    if (st.activation) rows.push(["activation", st.activation]);
    if (st.params_count) rows.push(["parameters", st.params_count.toLocaleString("en")]);
    const s = st.stats || {};
    if (s.min !== undefined) rows.push(["min / mean / max", `${fmt(s.min)} / ${fmt(s.mean)} / ${fmt(s.max)}`]);
    if (s.zeros != null) rows.push(["zeros", (100 * s.zeros).toFixed(1) + " %"]);
    if (s.saturated != null) rows.push(["saturated", (100 * s.saturated).toFixed(1) + " %"]);
    rows.push(["sources", st.sources.map((k) => k < 0 ? "input" : steps[k].name).join(", ")]);
    rows.push(["explainable here", st.exact ? "yes: exact float32 values" : "no: maps stored in 8 bits for display only"]);
    return el("table", { class: "facts", id: "layer-facts" }, ...rows.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: v }))));
  }

  function selectLayer(k) {
    S.cur = Math.max(0, Math.min(steps.length - 1, k));
    const b = blockOf(steps[S.cur]); if (b) S.collapsed.delete(b);
    S.neuron = null; render();
  }

  function render() {
    drawGraph();
    const st = steps[S.cur];
    const pane = $("detail-pane");
    pane.replaceChildren();
    pane.append(el("h2", { id: "layer-title", "data-step": st.index, text: `${st.index + 1}/${steps.length}  ${st.name}` }));
    pane.append(el("div", {},
      el("button", { id: "prev", onclick: () => selectLayer(S.cur - 1), text: "◀ previous" }), " ",
      el("button", { id: "next", onclick: () => selectLayer(S.cur + 1), text: "next ▶" }), " ",
      D.has_grad ? el("button", { id: "toggle-grad", onclick: () => { S.grad = !S.grad; render(); }, text: S.grad ? "show activations" : "show gradients" }) : null,
      el("span", { class: "hint", text: "  keys: ← → layers" })));
    pane.append(el("div", { class: "row2" }, facts(st), inputPanel()));
    const key = S.grad && st.grad ? "grad" : "maps";
    pane.append(el("h3", { text: key === "grad" ? "Gradient maps dL/dy" : "Feature maps" + (st.exact ? " — click a neuron to explain it" : "") }));
    const n = S.neuron;
    pane.append(mapGrid(st, key, (m, i, j) => selectNeuron(m, i, j),
      st.output_shape.length === 1 ? (n ? n.map : -1) :
        (c, cv, scale) => { if (n && c === n.map) { setTimeout(() => outline(cv, scale, n.row, n.col, 1, 1, "#1971c2")); } return false; }));
    pane.append(el("div", { id: "neuron" }, n ? explainPanel(st, n) :
      el("p", { class: "hint", text: st.exact ? "Click a pixel of a map (or a bar) to see that neuron's inputs, weights, products and receptive field." :
        "This layer is stored for display only; choose it with --layers (or --neurons) to make it explainable." })));
    if (D.has_grad) pane.append(gradPlot());
  }

  // ---- the neuron view --------------------------------------------------------------
  function explain(st, m, i, j) {
    const f = EXPLAIN[st.kind];
    if (!f) return null;
    const e = f(st, m, i, j);
    const vals = f32(st.values);
    e.recorded = vals.shape.length === 1 ? vals.data[m] : at3(vals, m, i, j);
    return e;
  }

  function selectNeuron(m, i, j) {
    const st = steps[S.cur];
    S.neuron = { map: m, row: i, col: j };
    render();
    return S.last;
  }

  function explainPanel(st, n) {
    const box = el("div", {});
    const name = `${st.name}:${n.map}:${n.row}:${n.col}`;
    box.append(el("h3", { text: `Neuron ${name}` }));
    if (!st.exact) { box.append(el("p", { text: "Not explainable: this layer's exact values were not stored." })); return box; }
    let e;
    try { e = explain(st, n.map, n.row, n.col); } catch (err) { box.append(el("p", { class: "bad", text: String(err) })); return box; }
    if (!e) { box.append(el("p", { text: `The page does not explain ${st.kind} neurons yet; use cnnsim step --neuron ${name}.` })); return box; }
    S.last = Object.assign({ name }, e);
    const tol = 64 * 1.1920929e-7 * (Math.abs(e.scale) + Math.abs(e.recorded) + 1e-3);
    const err = Math.abs(e.output - e.recorded), ok = err <= tol;
    box.append(el("div", { class: "formula", text: e.formula }));
    const terms = e.terms || [];
    const shown = e.ranked ? terms.slice(0, 10) : terms.slice(0, 300);
    if (terms.length) {
      const hasW = terms.some((t) => t.w !== undefined);
      const head = el("tr", {}, el("th", { text: "input" }), el("th", { text: "value" }),
        hasW ? el("th", { text: e.square ? "prototype" : "weight" }) : null, el("th", { text: e.square ? "square" : (hasW ? "product" : "") }));
      const body = shown.map((t) => el("tr", { class: t.winner || t.own ? "win" : "" },
        el("td", { class: t.pad ? "pad" : "", text: t.pad ? t.label + " (padding)" : t.label + (t.winner ? " ★ winner" : "") + (t.own ? " (own map)" : "") }),
        el("td", { text: fmt(t.x) }), hasW ? el("td", { text: fmt(t.w) }) : null, el("td", { text: t.p !== undefined ? fmt(t.p) : "" })));
      box.append(el("table", { class: "terms" }, head, ...body));
      if (shown.length < terms.length) {
        const rest = terms.slice(shown.length).reduce((s, t) => s + (t.p || 0), 0);
        box.append(el("div", { class: "hint", text: `${terms.length - shown.length} more terms (sorted by size), together ${fmt(rest)}` }));
      }
    }
    const lines = [];
    if (e.bias !== undefined) lines.push(["bias", e.bias]);
    lines.push([e.square && st.kind === "LRN" ? "normalizer k + α Σ a_j²" : "sum (z)", e.z]);
    lines.push([`output y${st.activation ? " = " + st.activation + "(z)" : ""}`, e.output]);
    lines.push(["recorded by the kernel", e.recorded]);
    box.append(el("table", { class: "facts" }, ...lines.map(([k, v]) => el("tr", {}, el("td", { text: k }),
      el("td", { text: fmt(v), id: k.startsWith("sum") || k.startsWith("normalizer") ? "nx-sum" : k.startsWith("output") ? "nx-output" : k.startsWith("recorded") ? "nx-recorded" : "",
        "data-value": String(v) })))));
    box.append(el("p", { id: "nx-check", class: ok ? "ok" : "bad",
      text: ok ? `✓ rebuilt output equals the recorded value within ${err.toExponential(1)} (tolerance ${tol.toExponential(1)})` :
        `✗ rebuilt output differs from the recorded value by ${err.toExponential(2)}` }));
    if (e.window && st.sources[e.window.src] !== undefined) box.append(windowPanel(st, e.window));
    return box;
  }

  function windowPanel(st, w) {
    // the neuron's window drawn on the maps it reads (the previous layer's output)
    const src = st.sources[w.src];
    const from = src < 0 ? { name: "input", maps: D.image_u8 } : steps[src];
    const m = u8(from.maps);
    const wrap = el("div", {}, el("h3", { text: `Its window in ${from.name} (the maps it reads are outlined)` }));
    if (!m || m.shape.length !== 3) return wrap;
    const [C, H, W] = m.shape, signed = m.lo < 0 && m.hi > 0, zeroAt = m.hi > m.lo ? -m.lo / (m.hi - m.lo) : 0;
    const scale = Math.max(1, Math.min(24, Math.floor(96 / Math.max(H, W))));
    const grid = el("div", { class: "maps", id: "window-maps" });
    const read = new Set(w.maps);
    for (const c of [...read].slice(0, 32)) {
      const cv = el("canvas", { class: "map read", "data-map": c });
      drawMap(cv, m, c, scale, signed, zeroAt);
      const box = el("div", { class: "mapbox" }, cv, el("span", { text: `map ${c}` }));
      grid.append(box);
      setTimeout(() => outline(cv, scale, w.r0, w.c0, w.fh, w.fw, "#d9480f"));
    }
    wrap.append(grid);
    if (read.size > 32) wrap.append(el("p", { class: "hint", text: `and ${read.size - 32} more maps` }));
    return wrap;
  }

  // ---- the input image with the receptive field -------------------------------------
  function rfBox(st, n) {
    const rf = st.rf; if (!rf) return null;
    let g = 0;
    if (!rf.vector) g = rf.groups.findIndex((maps) => maps.includes(n.map));
    if (g < 0) g = 0;
    const rows = rf.rows[g][rf.vector ? 0 : n.row], cols = rf.cols[g][rf.vector ? 0 : n.col];
    return [rows[0], rows[1], cols[0], cols[1]];
  }

  function inputPanel() {
    const img = u8(D.image_u8), [C, H, W] = img.shape;
    const scale = Math.max(1, Math.floor(160 / Math.max(H, W)));
    const cv = el("canvas", { id: "input-image", width: W, height: H });
    cv.style.width = W * scale + "px"; cv.style.height = H * scale + "px"; cv.style.imageRendering = "pixelated";
    const ctx = cv.getContext("2d"), id = ctx.createImageData(W, H);
    for (let k = 0; k < H * W; k++) {
      const px = C >= 3 ? [0, 1, 2].map((c) => img.data[c * H * W + k]) : [img.data[k], img.data[k], img.data[k]];
      id.data.set([...px, 255], 4 * k);
    }
    ctx.putImageData(id, 0, 0);
    const holder = el("div", { style: "position:relative;display:inline-block" }, cv);
    const st = steps[S.cur], n = S.neuron;
    const cap = el("div", { class: "hint", id: "rf-caption", text: "input image" });
    if (n && st.exact) {
      const box = rfBox(st, n);
      const pre = D.neurons.find((e) => e.neuron[0] === st.name && e.neuron[1] === n.map && e.neuron[2] === n.row && e.neuron[3] === n.col);
      const o = el("canvas", { width: W * scale, height: H * scale, id: "rf-overlay" });
      o.style.position = "absolute"; o.style.left = "0"; o.style.top = "0";
      const c2 = o.getContext("2d");
      if (pre && pre.effective) {       // effective field: |gradient| as an orange veil
        const e = u8(pre.effective);
        for (let r = 0; r < H; r++) for (let q = 0; q < W; q++) {
          const t = e.data[r * W + q] / 255; if (t <= 0) continue;
          c2.fillStyle = `rgba(255,120,0,${0.75 * t})`; c2.fillRect(q * scale, r * scale, scale, scale);
        }
      }
      if (box && box[1] >= box[0]) {
        c2.strokeStyle = "#e03131"; c2.lineWidth = 2;
        c2.strokeRect(box[2] * scale + 1, box[0] * scale + 1, (box[3] - box[2] + 1) * scale - 2, (box[1] - box[0] + 1) * scale - 2);
        holder.dataset.box = box.join(",");
        cap.textContent = `receptive field: rows ${box[0]}..${box[1]}, cols ${box[2]}..${box[3]} (${box[1] - box[0] + 1}×${box[3] - box[2] + 1} pixels)` +
          (pre && pre.effective ? "; orange: effective field (|gradient|)" : "");
      } else if (box) { cap.textContent = "receptive field: only padding feeds this neuron"; holder.dataset.box = box.join(","); }
      holder.id = "rf-box"; holder.append(o);
    }
    return el("div", {}, holder, cap);
  }

  // ---- gradient norms ---------------------------------------------------------------
  function gradPlot() {
    const pts = steps.map((st) => st.grad_norm).map((v, k) => [k, v]).filter(([, v]) => v > 0);
    const wrap = el("div", {}, el("h3", { text: "Gradient norm ||dL/dy|| per layer (log scale)" }));
    if (!pts.length) return wrap;
    const Wd = 560, Ht = 160, cv = el("canvas", { id: "gradplot", width: Wd, height: Ht });
    const ctx = cv.getContext("2d"), lo = Math.min(...pts.map((p) => Math.log10(p[1]))), hi = Math.max(...pts.map((p) => Math.log10(p[1])));
    const X = (k) => 30 + (Wd - 40) * k / Math.max(1, steps.length - 1), Y = (v) => Ht - 15 - (Ht - 30) * (Math.log10(v) - lo) / Math.max(1e-9, hi - lo);
    ctx.strokeStyle = "#1971c2"; ctx.beginPath();
    pts.forEach(([k, v], n) => n ? ctx.lineTo(X(k), Y(v)) : ctx.moveTo(X(k), Y(v))); ctx.stroke();
    ctx.fillStyle = "#d9480f"; const cur = steps[S.cur].grad_norm; if (cur > 0) ctx.fillRect(X(S.cur) - 3, Y(cur) - 3, 6, 6);
    ctx.fillStyle = "#5b6575"; ctx.font = "10px sans-serif";
    ctx.fillText(`1e${hi.toFixed(1)}`, 0, 12); ctx.fillText(`1e${lo.toFixed(1)}`, 0, Ht - 4);
    ctx.fillText("input side → output side", Wd / 2 - 50, Ht - 2);
    wrap.append(cv);
    return wrap;
  }

  // ---- keyboard and start -----------------------------------------------------------
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowRight") { selectLayer(S.cur + 1); ev.preventDefault(); }
    if (ev.key === "ArrowLeft") { selectLayer(S.cur - 1); ev.preventDefault(); }
  });
  $("model-name").textContent = D.model;
  $("exact-note").textContent = `exact (explainable) layers: ${D.exact_layers.length} of ${steps.length}` +
    (D.exact_layers.length < steps.length ? " — the others are drawn from 8-bit maps" : "");
  // start on a precomputed neuron when the page was asked for one
  if (D.neurons.length) {
    const n = D.neurons[0].neuron, k = steps.findIndex((s) => s.name === n[0]);
    S.cur = k; S.neuron = { map: n[1], row: n[2], col: n[3] };
  }
  render();
  window.cnnsimExplorer = { selectLayer, selectNeuron, state: S, explain, data: D };
})();
