// SPDX-License-Identifier: GPL-2.0-only
// heaptrail's HTML report: draws the JSON document the page carries (html_out.c writes it), per
// process a flame graph (an icicle: the root on top) and a table of call sites. No library and
// nothing loaded: the page works offline, from a file.
"use strict";

(function () {
	const data = JSON.parse(document.getElementById("heaptrail-data").textContent);
	// a stack is [frames, live bytes, live allocs, allocated bytes, allocations, end, spans,
	// peak bytes];
	// a span is [index, live bytes, live allocs, allocated bytes, allocations] (data.time)
	const METRICS = [
		{ col: 1, label: "live bytes", bytes: true },
		{ col: 2, label: "live allocations", bytes: false },
		{ col: 3, label: "allocated bytes", bytes: true },
		{ col: 4, label: "allocations", bytes: false },
		// heaptrack's peak: each call site's own largest, not all at one moment
		{ col: 7, label: "peak bytes (each call site's own)", bytes: true, whole: true },
	];
	const NM = METRICS.length;
	const ENDS = { cut: "[cut]", truncated: "[truncated]", none: "[stack not captured]" };
	const ROW = 18; // px per level of the graph
	const MIN_SHARE = 0.001; // nodes narrower than this share of the view are not drawn
	const TABLE_ROWS = 200;
	// the chart: [series, label, colour]
	const SERIES = [
		["live_bytes", "live", "#c0392b"],
		["heap_bytes", "heap", "#2471a3"],
		["mapped_bytes", "mapped", "#7d3c98"],
		["rss_anon", "resident: anonymous", "#229954"],
		["rss_file", "resident: files", "#a9a9a9"],
		["rss_shmem", "resident: shared memory", "#17a589"],
		["rss_swap", "swapped out", "#b7950b"],
	];
	const CHART = { w: 1000, h: 160, left: 80, right: 10, bottom: 22, top: 8 };
	const state = { metric: 0, search: "" };
	const views = [];

	function el(tag, attrs, ...kids) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (k === "class") e.className = v;
			else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
			else e.setAttribute(k, v);
		}
		for (const k of kids) e.append(k);
		return e;
	}

	function fmt(n, bytes) {
		if (!bytes) return n.toLocaleString("en-US");
		const units = ["B", "KiB", "MiB", "GiB", "TiB"];
		let u = 0, v = n;
		while (v >= 1024 && u < units.length - 1) {
			v /= 1024;
			u++;
		}
		return (u ? v.toFixed(v < 10 ? 2 : 1) : String(v)) + " " + units[u];
	}

	function pct(part, whole) {
		return whole ? (100 * part / whole).toFixed(part === whole ? 0 : 1) + "%" : "-";
	}

	function secs(ns) {
		return (ns / 1e9).toFixed(ns < 1e7 ? 4 : 3) + " s";
	}

	// A stack's four numbers: over the run, or of what it allocated in the chosen range.
	// Does a stack count, with the range if one: something of it in a metric the range applies to.
	function counts(view, val) {
		return val.some((x, i) => x && !(view.range && METRICS[i].whole));
	}

	// (the peak has no range: it stays the whole run's)
	function values(view, s) {
		if (!view.range) return METRICS.map((m) => s[m.col] || 0);
		const v = METRICS.map((m) => (m.whole ? s[m.col] || 0 : 0));
		for (const sp of s[6] || [])
			if (sp[0] >= view.range.first && sp[0] <= view.range.last)
				for (let m = 0; m < 4; m++) v[m] += sp[1 + m];
		return v;
	}

	// The stacks of a process as one tree; every node sums the four metrics.
	function buildTree(view) {
		const proc = view.proc;
		const root = { name: "all", frame: null, parent: null, kids: new Map(),
			       v: new Array(NM).fill(0), self: new Array(NM).fill(0), depth: 0 };
		for (const s of proc.stacks) {
			const val = values(view, s);
			if (!counts(view, val)) continue;
			const frames = s[0].map((i) => proc.frames[i]);
			if (ENDS[s[5]]) frames.unshift([ENDS[s[5]], "", null]);
			let n = root;
			for (let m = 0; m < NM; m++) root.v[m] += val[m];
			for (const f of frames) {
				let c = n.kids.get(f[0]);
				if (!c) {
					c = { name: f[0], frame: f, parent: n, kids: new Map(),
					      v: new Array(NM).fill(0), self: new Array(NM).fill(0), depth: n.depth + 1 };
					n.kids.set(f[0], c);
				}
				for (let m = 0; m < NM; m++) c.v[m] += val[m];
				n = c;
			}
			for (let m = 0; m < NM; m++) n.self[m] += val[m];
		}
		return root;
	}

	// A colour per module, so that one library's frames look alike.
	function colour(node) {
		const mod = node.frame ? node.frame[1] : "";
		let h = 0;
		for (const c of mod) h = (h * 31 + c.charCodeAt(0)) >>> 0;
		if (!node.frame || node.name.startsWith("[")) return "hsl(0, 0%, 80%)";
		return `hsl(${10 + h % 45}, ${70 + h % 20}%, ${62 + (h >> 8) % 14}%)`;
	}

	function matches(node) {
		return state.search !== "" && node.name.toLowerCase().includes(state.search);
	}

	function describe(node) {
		const m = METRICS[state.metric], total = node.parent ? rootOf(node).v[state.metric] : 0;
		const lines = [node.name];
		if (node.frame && node.frame[1]) lines[0] += "  in " + node.frame[1];
		if (node.frame && node.frame[2]) lines[0] += "  at " + node.frame[2];
		lines.push(METRICS.map((x, i) => x.label + " " + fmt(node.v[i], x.bytes)).join(", "));
		lines.push(`${m.label}: ${fmt(node.v[state.metric], m.bytes)} (${pct(node.v[state.metric], total || node.v[state.metric])} of the process), ` +
			   `${fmt(node.self[state.metric], m.bytes)} in this function itself`);
		return lines.join("\n");
	}

	function rootOf(node) {
		while (node.parent) node = node.parent;
		return node;
	}

	// The graph of one process: the zoomed node across the whole width, its callers above it.
	function drawGraph(view) {
		const m = state.metric, g = view.graph;
		const zoom = view.zoom || view.root, total = zoom.v[m];
		const nodes = [];
		let hidden = 0, depth = 0, found = 0;
		g.textContent = "";
		const chain = [];
		for (let a = zoom.parent; a; a = a.parent) chain.unshift(a);
		function draw(node, x, w, d, above) {
			const div = el("div", {
				class: "ht-node" + (above ? " ht-above" : "") + (matches(node) ? " ht-match" : ""),
				"data-name": node.name,
				"data-value": String(node.v[m]),
				"data-self": String(node.self[m]),
				"data-index": String(nodes.length),
			}, node.name);
			div.style.left = (100 * x) + "%";
			div.style.width = (100 * w) + "%";
			div.style.top = (d * ROW) + "px";
			div.style.background = colour(node);
			nodes.push(node);
			g.append(div);
			depth = Math.max(depth, d);
		}
		chain.forEach((a, d) => draw(a, 0, 1, d, true));
		// matched bytes: the outermost matching node of each path counts, once
		function walk(node, x, d, inMatch) {
			const w = total ? node.v[m] / total : 0;
			const hit = !inMatch && matches(node);
			if (hit) found += node.v[m];
			if (node.v[m] === 0) return;
			if (w < MIN_SHARE) {
				hidden++;
				return;
			}
			draw(node, x, w, d, false);
			let cx = x;
			const kids = [...node.kids.values()].sort((a, b) => b.v[m] - a.v[m] ||
							       (a.name < b.name ? -1 : 1));
			for (const c of kids) {
				walk(c, cx, d + 1, inMatch || hit);
				cx += total ? c.v[m] / total : 0;
			}
		}
		walk(zoom, 0, chain.length, false);
		g.style.height = ((depth + 1) * ROW) + "px";
		view.nodes = nodes;
		const notes = [];
		if (view.zoom) notes.push(`zoomed on ${zoom.name}: click the top row to go back`);
		if (hidden) notes.push(`${hidden} nodes too narrow to draw`);
		if (state.search)
			notes.push(`"${state.search}": ${fmt(found, METRICS[m].bytes)} (${pct(found, total)}) matched`);
		view.note.textContent = notes.join("; ");
		view.note.setAttribute("data-matched", String(found));
	}

	// Call sites: stacks summed by their innermost frame.
	function drawTable(view) {
		const sites = new Map();
		for (const s of view.proc.stacks) {
			const f = s[0].length ? view.proc.frames[s[0][s[0].length - 1]] : [ENDS.none, "", null];
			const key = f.join("\u0000");
			const val = values(view, s);
			let site = sites.get(key);
			if (!site) sites.set(key, site = { frame: f, v: new Array(NM).fill(0) });
			for (let m = 0; m < NM; m++) site.v[m] += val[m];
		}
		const col = view.sortBy ?? state.metric;
		const rows = [...sites.values()]
			.filter((s) => !state.search || s.frame[0].toLowerCase().includes(state.search))
			.filter((s) => counts(view, s.v))
			.sort((a, b) => b.v[col] - a.v[col]);
		const head = el("tr", {}, el("th", { class: "ht-fn" }, "call site (innermost frame)"),
				el("th", { class: "ht-fn" }, "at"));
		METRICS.forEach((m, i) => head.append(el("th", {
			class: i === col ? "ht-sorted" : "",
			onclick: () => { view.sortBy = i; drawTable(view); },
		}, m.label)));
		const table = el("table", { class: "ht-sites" }, el("thead", {}, head));
		const body = el("tbody");
		for (const s of rows.slice(0, TABLE_ROWS)) {
			// the file's name and line, or the module's without them
			const at = s.frame[2] ? s.frame[2].replace(/^.*\//, "") : s.frame[1];
			const tr = el("tr", { "data-name": s.frame[0] },
				      el("td", { class: "ht-fn" }, s.frame[0]),
				      el("td", { class: "ht-fn", title: s.frame[2] || s.frame[1] }, at));
			METRICS.forEach((m, i) => tr.append(el("td", {}, fmt(s.v[i], m.bytes))));
			body.append(tr);
		}
		table.append(body);
		view.table.textContent = "";
		view.table.append(table);
		if (rows.length > TABLE_ROWS)
			view.table.append(el("p", { class: "ht-note" },
					     `${rows.length - TABLE_ROWS} more call sites not shown`));
	}

	function duration(ns) {
		if (ns < 1e3) return ns + " ns";
		if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 1 : 0) + " us";
		if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 1 : 0) + " ms";
		return (ns / 1e9).toFixed(1) + " s";
	}

	// A histogram as bcc's tools print one: a row per bucket that counts something.
	function histogram(title, h, show, kind) {
		const box = el("div", { class: "ht-hist", "data-hist": kind },
			       el("h3", {}, title));
		if (!h || !h.total) {
			box.append(el("p", { class: "ht-note" }, "none"));
			return box;
		}
		const most = Math.max(...h.buckets.map((b) => b.count));
		const table = el("table", {});
		for (const { lo, hi, count: n } of h.buckets) {
			const bar = el("div", { class: "ht-bar" });
			bar.style.width = (100 * n / most) + "%";
			table.append(el("tr", { "data-lo": String(lo), "data-count": String(n) },
					el("td", {}, `${show(lo)} - ${show(hi)}`),
					el("td", { class: "ht-count" }, fmt(n)),
					el("td", { class: "ht-bar-cell" }, bar)));
		}
		box.append(table, el("p", { class: "ht-note" },
			`${fmt(h.total)} in all, ${show(h.min)} to ${show(h.max)}, ` +
			`mean ${show(Math.round(h.sum / h.total))}`));
		return box;
	}

	function svg(tag, attrs) {
		const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
		for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
		return e;
	}

	// Memory over time; a drag on it chooses the range the graph and the table show.
	function drawChart(view) {
		const T = data.time, series = view.proc.series;
		if (!T || !series) return;
		const c = CHART, end = Math.max(T.end_ns, 1);
		const shown = SERIES.filter(([key]) => !view.hidden.has(key));
		let max = 1;
		for (const [key] of shown)
			for (const [, v] of series[key] || []) max = Math.max(max, v);
		const x = (t) => c.left + (c.w - c.left - c.right) * Math.min(t, end) / end;
		const y = (v) => c.h - c.bottom - (c.h - c.bottom - c.top) * v / max;
		const chart = svg("svg", { viewBox: `0 0 ${c.w} ${c.h}`, class: "ht-chart",
					   preserveAspectRatio: "none" });
		chart.append(svg("line", { x1: c.left, y1: y(0), x2: c.w - c.right, y2: y(0),
					   class: "ht-axis" }));
		for (const [t, anchor] of [[0, "start"], [end / 2, "middle"], [end, "end"]]) {
			const label = svg("text", { x: x(t), y: c.h - 6, "text-anchor": anchor });
			label.textContent = secs(t);
			chart.append(label);
		}
		const top = svg("text", { x: c.left - 6, y: c.top + 10, "text-anchor": "end" });
		top.textContent = fmt(max, true);
		chart.append(top);
		for (const [key, , colour] of shown) {
			const pts = series[key] || [];
			if (!pts.length) continue;
			// steps: a value holds until the next point, and the last until the end
			let d = `M${x(pts[0][0])},${y(pts[0][1])}`;
			for (let i = 1; i < pts.length; i++)
				d += `H${x(pts[i][0])}V${y(pts[i][1])}`;
			d += `H${x(end)}`;
			chart.append(svg("path", { d, stroke: colour, fill: "none", class: "ht-line",
						   "data-series": key }));
		}
		const sel = svg("rect", { y: c.top, height: c.h - c.bottom - c.top, class: "ht-range" });
		chart.append(sel);
		const legend = el("div", { class: "ht-legend" });
		// a series' name hides or shows it, and the scale follows what is shown
		for (const [key, label, colour] of SERIES)
			if ((series[key] || []).length) {
				const sw = el("span", { class: "ht-swatch" });
				sw.style.background = view.hidden.has(key) ? "#ddd" : colour;
				legend.append(el("span", { class: "ht-series", "data-series": key,
							   onclick: () => {
						if (!view.hidden.delete(key)) view.hidden.add(key);
						drawChart(view);
					} }, sw, label));
			}
		legend.append(el("span", { class: "ht-note" },
				 " (click one to hide it) drag on the chart for what a time range " +
				 "allocated; click it to clear"));
		const timeAt = (e) => {
			const r = chart.getBoundingClientRect();
			const px = (e.clientX - r.left) / r.width * c.w;
			return Math.max(0, Math.min(end, (px - c.left) / (c.w - c.left - c.right) * end));
		};
		const showSel = (a, b) => {
			sel.setAttribute("x", x(Math.min(a, b)));
			sel.setAttribute("width", Math.max(0, x(Math.max(a, b)) - x(Math.min(a, b))));
		};
		chart.addEventListener("mousedown", (e) => {
			view.drag = timeAt(e);
			showSel(view.drag, view.drag);
			e.preventDefault();
		});
		chart.addEventListener("mousemove", (e) => {
			if (view.drag !== null) showSel(view.drag, timeAt(e));
		});
		const done = (e) => {
			if (view.drag === null) return;
			const a = Math.min(view.drag, timeAt(e)), b = Math.max(view.drag, timeAt(e));
			view.drag = null;
			// a click, not a drag: the whole run again
			if (x(b) - x(a) < 3) setRange(view, null);
			else setRange(view, { first: Math.floor(a / T.span_ns),
					      last: Math.floor(b / T.span_ns) });
		};
		chart.addEventListener("mouseup", done);
		chart.addEventListener("mouseleave", done);
		view.chart.textContent = "";
		view.chart.append(chart, legend);
		view.sel = sel;
		view.x = x;
		showRange(view);
	}

	function showRange(view) {
		const T = data.time, r = view.range;
		if (!view.sel) return;
		if (!r) {
			view.sel.setAttribute("width", 0);
			return;
		}
		const from = r.first * T.span_ns, to = (r.last + 1) * T.span_ns;
		// x() stops at the end of the run
		view.sel.setAttribute("x", view.x(from));
		view.sel.setAttribute("width", view.x(to) - view.x(from));
	}

	// The range, snapped to whole spans: the graph and the table follow it.
	function setRange(view, range) {
		const T = data.time;
		view.range = range;
		view.root = null;
		view.zoom = null;
		showRange(view);
		if (range) {
			const from = range.first * T.span_ns;
			const to = Math.min((range.last + 1) * T.span_ns, Math.max(T.end_ns, from));
			view.details.setAttribute("data-range", `${from} ${to}`);
			view.rangeNote.textContent = `Showing what was allocated from ${secs(from)} to ` +
				`${secs(to)}; live: of that, what was still allocated at the end ` +
				"(the peak stays the whole run's).";
		} else {
			view.details.removeAttribute("data-range");
			view.rangeNote.textContent = "";
		}
		draw(view);
	}

	function draw(view) {
		if (!view.details.open) return;
		if (!view.charted) {
			drawChart(view);
			if (!view.proc.kernel) view.hists.append(
				histogram("allocation sizes", view.proc.sizes, (v) => fmt(v, true), "sizes"),
				histogram("lifetimes of what was freed", view.proc.lifetimes, duration,
					  "lifetimes"));
			view.charted = true;
		}
		if (!view.root) view.root = buildTree(view);
		drawGraph(view);
		drawTable(view);
	}

	function drawAll() {
		for (const v of views) draw(v);
	}

	function processView(proc, open) {
		const exit = proc.exited ? (proc.signal ? `killed by SIG${proc.signal}` :
				`exited ${proc.exit_code ?? ""}`) : "running at the end";
		const summary = proc.kernel ?
			el("summary", {}, "kernel (-k)", el("span", { class: "ht-totals" },
			   `${fmt(proc.live_bytes, true)} outstanding at the end in ` +
			   `${fmt(proc.live_allocs)} allocations, under their allocator and cache`)) :
			el("summary", {}, `${proc.comm} (${proc.pid})`,
			el("span", { class: "ht-totals" },
			   `${fmt(proc.live_bytes, true)} live in ${fmt(proc.live_allocs)} allocations; ` +
			   `${fmt(proc.alloc_bytes, true)} in ${fmt(proc.allocs)} allocations over the run, ` +
			   `${fmt(proc.frees)} frees; ${exit}`));
		const view = {
			proc,
			details: el("details", { class: "ht-proc", "data-pid": String(proc.pid),
						 "data-kernel": proc.kernel ? "1" : "0" }, summary),
			chart: el("div", { class: "ht-chart-box" }),
			rangeNote: el("p", { class: "ht-range-note" }),
			graph: el("div", { class: "ht-graph" }),
			note: el("p", { class: "ht-note ht-graph-note" }),
			status: el("div", { class: "ht-status" }),
			table: el("div"),
			hists: el("div", { class: "ht-hists" }),
			zoom: null,
			root: null,
			range: null,
			drag: null,
			hidden: new Set(),
		};
		view.details.open = open;
		view.details.append(view.chart, view.rangeNote, view.graph, view.note, view.status,
				    view.table, view.hists);
		view.details.addEventListener("toggle", () => draw(view));
		view.graph.addEventListener("click", (e) => {
			const i = e.target.getAttribute("data-index");
			if (i === null) return;
			const node = view.nodes[+i];
			view.zoom = node.parent ? node : null;
			drawGraph(view);
		});
		view.graph.addEventListener("mouseover", (e) => {
			const i = e.target.getAttribute("data-index");
			if (i !== null) view.status.textContent = describe(view.nodes[+i]);
		});
		return view;
	}

	function lostBanner() {
		const kinds = Object.entries(data.lost).filter(([, n]) => n);
		if (!kinds.length)
			return el("div", { class: "ht-lost", "data-lost": "0" },
				  "Nothing was lost: every event the kernel sent was seen.");
		const total = kinds.reduce((a, [, n]) => a + n, 0);
		return el("div", { class: "ht-lost ht-bad", "data-lost": String(total) },
			  "Events were lost, the numbers below miss them: " +
			  kinds.map(([k, n]) => `${k} ${fmt(n)}`).join(", "));
	}

	/* sampled mode: the stacks' numbers are estimates, the processes' totals exact */
	function sampledNote() {
		if (!data.sample_bytes)
			return el("span", {});
		return el("div", { class: "ht-sampled", "data-sample-bytes": String(data.sample_bytes) },
			  `Sampled: one allocation per ${fmt(data.sample_bytes)} bytes on average had ` +
			  "its stack taken. The stacks' numbers, time ranges, peaks and histograms " +
			  "are estimates; each process's totals and live series are exact.");
	}

	function page() {
		const a = data.about;
		const where = a.recording ? `from the recording ${a.recording}` :
			`traced live on ${a.host}, Linux ${a.kernel}`;
		const metric = el("select", { id: "ht-metric", onchange: (e) => {
			state.metric = +e.target.value;
			drawAll();
		} });
		METRICS.forEach((m, i) => metric.append(el("option", { value: String(i) }, m.label)));
		const search = el("input", { id: "ht-search", type: "search",
					     placeholder: "function name" });
		search.addEventListener("input", () => {
			state.search = search.value.trim().toLowerCase();
			drawAll();
		});
		document.body.append(
			el("header", {},
			   el("h1", {}, "heaptrail: " + a.command_line.slice(1).join(" ")),
			   el("div", { class: "ht-about" }, `${where}; made ${a.made}`)),
			lostBanner(),
			sampledNote(),
			el("div", { class: "ht-controls" },
			   el("label", {}, "show ", metric),
			   el("label", {}, "search ", search),
			   el("span", { class: "ht-note" }, "click a frame to zoom; hover for its numbers")));
		const procs = [...data.processes].sort((x, y) => y.live_bytes - x.live_bytes ||
							  y.alloc_bytes - x.alloc_bytes);
		if (!procs.length)
			document.body.append(el("p", {}, "No process was traced."));
		procs.forEach((p, i) => {
			const v = processView(p, i === 0);
			views.push(v);
			document.body.append(v.details);
		});
		if (data.kernel) {
			const v = processView(data.kernel, !procs.length);
			views.push(v);
			document.body.append(v.details);
		}
		drawAll();
		// when the page was drawn (make bench reads it)
		performance.mark("heaptrail-drawn");
	}

	page();
})();
