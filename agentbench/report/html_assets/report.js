// agentbench report.html: table sorting and filtering, and the lazy trace view.
// Every string from the run (model text, commands, outputs) is written with textContent, never as HTML.
(function () {
  "use strict";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function add(parent, ...children) {
    for (const c of children) if (c) parent.appendChild(c);
    return parent;
  }
  function details(summaryText, open, ...children) {
    const d = el("details");
    if (open) d.open = true;
    add(d, el("summary", null, summaryText), ...children);
    return d;
  }
  const secs = (s) => (s === null || s === undefined ? "–" : Number(s).toFixed(s < 10 ? 2 : 1) + " s");
  const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
  function contentText(c) {
    if (c === null || c === undefined) return "";
    if (typeof c === "string") return c;
    if (Array.isArray(c)) return c.map((p) => (typeof p === "string" ? p : (p && p.text) || JSON.stringify(p))).join("\n");
    return JSON.stringify(c, null, 2);
  }

  // ---- attempt table: filter by status and text, sort by column ----------------------------------
  const table = document.getElementById("attempt-table");
  const tbody = table ? table.tBodies[0] : null;
  const rows = tbody ? Array.from(tbody.rows) : [];
  const textBox = document.getElementById("filter-text");
  const toggles = Array.from(document.querySelectorAll("input[data-status-filter]"));

  function applyFilter() {
    const wanted = new Set(toggles.filter((t) => t.checked).map((t) => t.dataset.statusFilter));
    const words = (textBox ? textBox.value : "").toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows) {
      const search = row.dataset.search;
      const ok = wanted.has(row.dataset.status) && words.every((w) => search.includes(w));
      row.hidden = !ok;
      if (ok) shown += 1;
    }
    document.getElementById("shown-count").textContent = shown + " of " + rows.length;
  }

  function sortBy(th) {
    const col = Number(th.dataset.col);
    const numeric = th.dataset.sort === "num";
    const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    const key = (row) => {
      const v = row.cells[col].dataset.v;
      return numeric ? Number(v) : v.toLowerCase();
    };
    const keyed = rows.map((row, i) => [key(row), i, row]);
    keyed.sort((a, b) => (a[0] < b[0] ? -dir : a[0] > b[0] ? dir : a[1] - b[1]));
    const frag = document.createDocumentFragment();
    for (const [, , row] of keyed) frag.appendChild(row);
    tbody.appendChild(frag);
  }

  if (table) {
    for (const t of toggles) t.addEventListener("change", applyFilter);
    if (textBox) textBox.addEventListener("input", applyFilter);
    for (const th of table.tHead.rows[0].cells) {
      th.addEventListener("click", () => sortBy(th));
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") sortBy(th); });
    }
    tbody.addEventListener("click", (e) => {
      const row = e.target.closest("tr");
      if (row && !e.target.closest("a")) location.hash = "attempt-" + row.dataset.id;
    });
  }

  // ---- trace view --------------------------------------------------------------------------------
  function messageBlock(m) {
    const box = el("div");
    add(box, el("div", "msg-role", m.role || "message"), el("pre", null, contentText(m.content)));
    if (m.tool_calls) box.appendChild(el("pre", null, JSON.stringify(m.tool_calls, null, 2)));
    return box;
  }

  function fullPrompt(calls, index) {
    // Rebuild call `index`'s prompt from the deltas stored per call (see html.py _model_call).
    let prompt = [];
    for (let i = 0; i <= index; i += 1) {
      const p = calls[i];
      const prev = i > 0 ? calls[i - 1] : null;
      const next = prompt.slice(0, p.p_from);
      if (p.p_r && prev) {
        const reply = prev.reply || {};
        next.push(reply.tool_calls ? { role: "ai", content: reply.content, tool_calls: reply.tool_calls }
          : { role: "ai", content: reply.content });
      }
      prompt = next.concat(p.p_new || []);
    }
    return prompt;
  }

  function modelEvent(p, dur, calls) {
    const index = calls.length;
    calls.push(p);
    const box = el("div", "ev model");
    const reply = p.reply || {};
    add(box, el("div", "ev-head", "model · " + num(p.prompt_tokens) + " + " + num(p.completion_tokens) + " tokens · " + secs(dur)));
    const newCount = (p.p_new || []).length;
    const promptBox = details("prompt: " + p.p_len + " messages, " + newCount + " new since the last call", false);
    const shown = el("div", "msgs");
    for (const m of p.p_new || []) shown.appendChild(messageBlock(m));
    promptBox.appendChild(shown);
    const fullButton = el("button", null, "show the full prompt");
    fullButton.addEventListener("click", () => {
      shown.replaceChildren(...fullPrompt(calls, index).map(messageBlock));
      promptBox.querySelector("summary").textContent = "prompt: all " + p.p_len + " messages";
      fullButton.remove();
    });
    if (p.p_len > newCount) promptBox.appendChild(fullButton);
    add(box, promptBox, details("reply", true, el("pre", null, contentText(reply.content))));
    if (reply.tool_calls) box.appendChild(el("pre", null, "tool calls: " + JSON.stringify(reply.tool_calls, null, 2)));
    return box;
  }

  function sandboxEvent(p, dur) {
    const failed = p.exit_code !== 0;
    const box = el("div", "ev sandbox" + (failed ? " fail" : ""));
    let head = "sandbox · " + (p.kind || "bash") + " · exit " + p.exit_code + " · " + secs(dur);
    if (p.truncated) head += " · output truncated";
    if (p.timed_out) head += " · TIMED OUT";
    add(box, el("div", "ev-head", head), el("pre", "cmd", "$ " + (p.command || "")));
    const out = (p.stdout || "") + (p.stderr ? (p.stdout ? "\n" : "") + "[stderr]\n" + p.stderr : "");
    const lines = out ? out.replace(/\n$/, "").split("\n").length : 0;
    box.appendChild(details("output (" + lines + " lines)", failed || lines <= 30, el("pre", null, out || "(no output)")));
    return box;
  }

  function otherEvent(type, p, dur) {
    if (type === "error") {
      const box = el("div", "ev error");
      add(box, el("div", "ev-head", "error · " + (p.source || "") + (p.which ? " · " + p.which + " limit" : "")),
        el("pre", null, p.error || JSON.stringify(p)));
      if (p.traceback) box.appendChild(details("traceback", false, el("pre", null, p.traceback)));
      return box;
    }
    const box = el("div", "ev other");
    let text;
    if (type === "tool_call") {
      text = "tool " + (p.tool || "") + " · " + secs(dur);
      add(box, el("div", "ev-head", text), el("pre", null, String(p.input || "")),
        el("pre", p.error ? "err" : null, p.error || p.output || ""));
      return box;
    }
    if (type === "retry") text = "retry #" + p.attempt + " · " + (p.reason || "") + " · waited " + secs(p.wait_s);
    else if (type === "score") text = "score · passed " + p.passed + " · value " + p.value;
    else if (type === "patch") text = "patch · " + num(p.chars) + " characters in " + p.files + " files";
    else if (type === "attempt_start") text = "attempt start";
    else if (type === "attempt_end") text = "attempt end · " + (p.status || "");
    else text = type + " " + JSON.stringify(p);
    box.appendChild(el("div", "ev-head", text));
    return box;
  }

  function timeline(data, scrollTo) {
    const t = data.totals || {};
    let total = t.wall_clock_s || 0;
    for (const e of data.ev) total = Math.max(total, e[3] + e[4]);
    const bar = el("div", "timeline");
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", "timeline: model, sandbox, overhead");
    if (total > 0) {
      for (const [seq, type, , start, dur, p] of data.ev) {
        const cls = type === "model_call" ? "model" : type === "sandbox_exec" ? "sandbox" : type === "error" ? "err" : null;
        if (!cls) continue;
        const seg = el("span", cls);
        seg.style.left = ((100 * start) / total).toFixed(3) + "%";
        seg.style.width = ((100 * dur) / total).toFixed(3) + "%";
        seg.title = "#" + seq + " " + type.replace("_", " ") + " · " + secs(dur) + (p && p.command ? " · " + p.command.slice(0, 80) : "");
        seg.addEventListener("click", () => scrollTo(seq));
        bar.appendChild(seg);
      }
    }
    const legend = el("div", "legend");
    for (const [name, value] of [["model", t.model_time_s], ["sandbox", t.sandbox_time_s], ["overhead", t.overhead_s]]) {
      add(legend, el("i", "key " + name), document.createTextNode(name + " " + secs(value) + "   "));
    }
    legend.appendChild(document.createTextNode("of " + secs(t.wall_clock_s) + " wall-clock (overhead: the framework, and everything between calls)"));
    return [bar, legend];
  }

  function diffBlock(patch) {
    const pre = el("pre", "diff");
    for (const line of patch.split("\n")) {
      let cls = null;
      if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ")) cls = "file";
      else if (line.startsWith("+")) cls = "add";
      else if (line.startsWith("-")) cls = "del";
      else if (line.startsWith("@@")) cls = "hunk";
      pre.appendChild(el("span", cls, line + "\n"));
    }
    return pre;
  }

  function testsBlock(report) {
    const status = report.tests_status || {};
    const tbl = el("table", "tests");
    for (const key of Object.keys(status)) {
      const ok = status[key].success || [];
      const bad = status[key].failure || [];
      const tr = el("tr");
      const lists = el("td");
      if (bad.length) lists.appendChild(details(bad.length + " failing", true, el("pre", "bad", bad.join("\n"))));
      if (ok.length) lists.appendChild(details(ok.length + " passing", bad.length === 0 && ok.length <= 20, el("pre", "ok", ok.join("\n"))));
      add(tr, el("td", null, key), el("td", bad.length ? "bad" : "ok", ok.length + " / " + (ok.length + bad.length) + " pass"), lists);
      tbl.appendChild(tr);
    }
    return tbl;
  }

  function resultBlock(data) {
    const box = el("div", "result");
    const score = data.score || {};
    const d = score.details || {};
    const report = d.report && typeof d.report === "object" ? d.report : null;
    if (data.patch !== null && data.patch !== undefined) {
      box.appendChild(el("h3", null, "Final diff"));
      box.appendChild(data.patch ? diffBlock(data.patch) : el("p", "note", "(empty patch)"));
    }
    if (score.env_error && d.env_log_tail) {  // the environment failed, not the agent: the log that showed it
      add(box, el("h3", null, "Environment fault" + ": " + score.env_error),
        el("pre", "ev error env-log", d.env_log_tail));
    }
    if (report) {
      let verdict = report.resolved ? "resolved" : "not resolved";
      if (report.patch_successfully_applied === false) verdict += " · the patch did not apply";
      if (d.applied_with) verdict += " · applied with " + d.applied_with;
      if (d.grading_network !== undefined) verdict += d.grading_network ? " · graded with network" : " · graded without network";
      add(box, el("h3", null, "Test results"), el("p", report.resolved ? "ok" : "bad", verdict), testsBlock(report));
      if (d.test_log) box.appendChild(details("test log", false, el("pre", null, d.test_log)));
    } else if (score.details) {
      box.appendChild(el("h3", null, "Score"));
      if ("expected" in d) {
        box.appendChild(el("p", score.passed ? "ok" : "bad", (score.passed ? "correct" : "wrong") +
          " · answer " + JSON.stringify(d.answer === undefined ? data.answer : d.answer) + " · expected " + JSON.stringify(d.expected)));
      }
      box.appendChild(details("score details", false, el("pre", null, JSON.stringify(score.details, null, 2))));
    }
    return box;
  }

  function buildTrace(data) {
    const root = el("div");
    const t = data.totals || {};
    const head = el("div", "trace-head");
    const close = el("button", null, "close");
    close.addEventListener("click", () => { history.replaceState(null, "", location.pathname + location.search); showTrace(null); });
    add(head, el("h2", null, data.task + " · epoch " + data.epoch), close);
    const facts = el("div", "trace-facts");
    add(facts, el("span", "badge " + data.status, data.status), document.createTextNode(
      "  " + t.steps + " steps · tool calls " + num(t.tool_calls) + " · " + num(t.tokens) + " tokens (" +
      num((t.usage || {}).prompt_tokens) + " prompt + " + num((t.usage || {}).completion_tokens) + " completion) · " +
      secs(t.wall_clock_s) + " wall-clock"));
    add(root, head, facts);
    if (data.answer !== null && data.answer !== undefined) root.appendChild(el("div", "trace-facts", "answer: " + data.answer));
    if (data.error) root.appendChild(el("pre", "ev error", data.error));
    const steps = el("div", "steps");
    const anchors = new Map();
    const scrollTo = (seq) => { const n = anchors.get(seq); if (n) n.scrollIntoView({ block: "center" }); };
    add(root, ...timeline(data, scrollTo), resultBlock(data), el("h3", null, "Steps"), steps);
    const stack = [steps];
    const calls = [];
    let n = 0;
    for (const [seq, type, node, , dur, p] of data.ev) {
      const parent = stack[stack.length - 1];
      let item;
      if (type === "node_start") {
        n += 1;
        item = el("section", "step");
        const h = el("div", "step-head", "step " + n + " · " + (node || "?") + " ");
        h.appendChild(el("span", "dim"));
        item.appendChild(h);
        parent.appendChild(item);
        stack.push(item);
      } else if (type === "node_end") {
        if (stack.length > 1) {
          const open = stack.pop();
          open.querySelector(".dim").textContent = secs(dur);
          if (p && p.error) open.appendChild(el("pre", "ev error", p.error));
        }
        continue;
      } else if (type === "model_call") item = modelEvent(p, dur, calls);
      else if (type === "sandbox_exec") item = sandboxEvent(p, dur);
      else item = otherEvent(type, p || {}, dur);
      if (type !== "node_start") parent.appendChild(item);
      anchors.set(seq, item);
    }
    return root;
  }

  const panel = document.getElementById("trace");
  function showTrace(id) {
    for (const row of rows) row.classList.toggle("current", row.dataset.id === id);
    if (id === null) { panel.hidden = true; panel.replaceChildren(); delete panel.dataset.attempt; return; }
    const blob = document.getElementById("trace-" + id);
    const t0 = performance.now();
    panel.replaceChildren(blob ? buildTrace(JSON.parse(blob.textContent)) : el("p", null, "no trace for attempt " + id));
    panel.hidden = false;
    panel.dataset.attempt = id;
    panel.dataset.renderMs = (performance.now() - t0).toFixed(1);
    panel.scrollIntoView({ block: "start" });
  }
  function onHash() {
    const m = /^#attempt-(\d+)$/.exec(location.hash);
    showTrace(m ? m[1] : null);
  }
  window.addEventListener("hashchange", onHash);
  onHash();
  if (rows.length) applyFilter();
  document.documentElement.dataset.readyMs = performance.now().toFixed(1);
  document.documentElement.dataset.ready = "1";
})();
