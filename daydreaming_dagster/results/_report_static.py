"""The report page's stylesheet and script (inlined into every report; no network access)."""

PAGE_CSS = r"""
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --accent:#3556a8; --ok:#2e7d32;
        --bad:#c62828; --warn:#b26a00; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--fg); background:var(--bg); }
header { background:#1f2a44; color:#fff; padding:14px 24px 10px; }
header h1 { margin:0; font-size:20px; font-weight:600; }
#dd-sub { color:#c9d2e3; font-size:12.5px; margin-top:3px; }
nav { background:#273556; padding:0 24px; position:sticky; top:0; z-index:5; }
nav a { color:#dfe6f5; text-decoration:none; display:inline-block; padding:8px 14px 8px 0; font-size:13px; }
nav a:hover { color:#fff; }
main { padding:16px 24px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 18px; margin:0 0 16px; }
h2 { font-size:16px; margin:0 0 10px; }
h3 { font-size:14px; margin:14px 0 6px; }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin-bottom:12px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 12px; min-width:130px; background:#fbfcfe; }
.card .v { font-size:19px; font-weight:600; }
.card .k { color:var(--muted); font-size:12px; }
table { border-collapse:collapse; width:100%; font-size:12.5px; }
th, td { border-bottom:1px solid var(--line); padding:4px 7px; text-align:left; vertical-align:top; }
th { background:#f2f4f7; font-weight:600; position:sticky; top:0; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.scroll { overflow:auto; max-height:420px; }
a { color:var(--accent); }
.muted { color:var(--muted); }
.st-complete { color:var(--ok); } .st-failed { color:var(--bad); font-weight:600; }
.st-incomplete { color:var(--warn); } .st-not-generated { color:var(--muted); }
.plots { display:grid; grid-template-columns:repeat(auto-fit,minmax(520px,1fr)); gap:12px; }
.plot { border:1px solid var(--line); border-radius:6px; min-height:200px; }
.plots.wide { grid-template-columns:1fr; }
.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:center; margin-bottom:8px; }
.filters input[type=search] { width:260px; }
.filters input, .filters select, .pager button, .pager select { font:inherit; padding:3px 6px; }
.pager { display:flex; gap:6px; align-items:center; margin:6px 0; }
.browser { display:grid; grid-template-columns:minmax(0,1.15fr) minmax(0,1fr); gap:14px; }
#dd-rows tr { cursor:pointer; }
#dd-rows tr:hover { background:#f3f6fc; }
#dd-rows tr.sel { background:#e3ebfb; }
th.sortable { cursor:pointer; user-select:none; }
th.sortable:after { content:" ⇅"; color:#aab; font-size:10px; }
th.asc:after { content:" ▲"; color:var(--accent); } th.desc:after { content:" ▼"; color:var(--accent); }
#dd-detail { border:1px solid var(--line); border-radius:6px; padding:10px 12px; position:sticky; top:44px;
             max-height:calc(100vh - 60px); overflow:auto; background:#fff; }
#dd-detail pre { white-space:pre-wrap; word-break:break-word; background:#f7f8fa; border:1px solid var(--line);
                 border-radius:4px; padding:8px; max-height:420px; overflow:auto; font-size:12px; margin:4px 0; }
#dd-detail details { margin:6px 0; } #dd-detail summary { cursor:pointer; font-weight:600; }
.lineage { display:flex; flex-wrap:wrap; gap:4px; align-items:center; margin:6px 0 8px; font-size:12.5px; }
.chip { display:inline-block; border:1px solid var(--line); border-radius:10px; padding:1px 8px; background:#f7f8fa;
        margin:1px 2px; font-size:12px; }
.score { font-weight:600; }
.kv td:first-child { color:var(--muted); width:150px; }
td.concepts { min-width:160px; max-width:340px; white-space:normal; overflow-wrap:anywhere; }
td.wrap { white-space:normal; overflow-wrap:anywhere; max-width:520px; }
.note { color:var(--muted); font-size:12.5px; margin:4px 0 8px; }
.sentence { font-weight:600; margin:2px 0; }
.card.lead { border-color:var(--accent); background:#f3f6fc; }
td.gid { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:12px; }
"""

PAGE_JS = r"""
"use strict";
const STAGES = ["draft", "essay", "evaluation"];
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v)) ? "" : (typeof v === "number" ? (Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(d)) : String(v));
const $ = (id) => document.getElementById(id);

async function loadData() {
  const b64 = $("dd-data").textContent.trim();
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

let D, G = [], S = [], byKey = new Map();
const state = { stage: "", status: "", template: "", model: "", q: "", texts: false, minScore: "",
                sort: "", dir: 1, page: 0, size: 50, selected: -1 };

function text(ref, g) {
  if (ref === null || ref === undefined) return null;
  if (typeof ref === "number") return S[ref];
  const parent = G[g.parent];
  return S[ref[0]] + (parent ? (text(parent.parsed, parent) ?? "") : "") + S[ref[1]];
}

function prepare() {
  S = D.strings;
  const F = D.fields;
  G = D.gens.map((row, i) => { const g = { i, children: [] }; F.forEach((f, k) => g[f] = row[k]); return g; });
  for (const g of G) {
    g.stageName = STAGES[g.stage];
    g.statusName = D.statuses[g.status];
    g.concepts = g.combo >= 0 ? D.combos[g.combo].concepts.join(", ") : "";
    if (g.parent >= 0) G[g.parent].children.push(g.i);
    byKey.set(g.stageName + "/" + g.id, g);
  }
  // Essays: mean of their evaluations; drafts: mean over their essays' evaluations.
  const mean = (xs) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  for (const g of G) if (g.stage === 1) {
    const xs = g.children.map((c) => G[c].score).filter((x) => x !== null);
    g.value = mean(xs); g.n = xs.length;
  }
  for (const g of G) if (g.stage === 0) {
    const xs = g.children.flatMap((c) => G[c].children.map((e) => G[e].score)).filter((x) => x !== null);
    g.value = mean(xs); g.n = xs.length;
  }
  for (const g of G) if (g.stage === 2) { g.value = g.score; g.n = g.score === null ? 0 : 1; }
  for (const g of G) g.hay = [g.id, g.stageName, g.statusName, g.template, g.model, g.concepts, g.error, g.kind]
    .join(" ").toLowerCase();
}

function card(k, v) { return `<div class="card"><div class="v">${v}</div><div class="k">${esc(k)}</div></div>`; }

function tableHTML(rec, opts = {}) {
  const cols = rec.columns;
  const head = cols.map((c) => `<th${opts.num && opts.num(c) ? ' class="num"' : ""}>${esc(c)}</th>`).join("");
  const body = rec.rows.map((r) => "<tr>" + r.map((v, k) => {
    const c = cols[k];
    const cell = opts.cell ? opts.cell(c, v, r) : null;
    const isNum = typeof v === "number";
    if (isNum && /cost/.test(c)) return `<td class="num">${money(v)}</td>`;
    const digits = /^p_/.test(c) ? 4 : (/rate/.test(c) ? 3 : 2);
    if (/^concept/.test(c)) return `<td class="concepts">${esc(v)}</td>`;
    if (/sentence|method|rule|target_rubrics|grader_models|level|group$/.test(c)) return `<td class="wrap">${cell ?? esc(v ?? "")}</td>`;
    return `<td${isNum ? ' class="num"' : ""}>${cell ?? esc(isNum ? fmt(v, digits) : (v ?? ""))}</td>`;
  }).join("") + "</tr>").join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

// A table with "mean [low, high]" in one column instead of three (the 95 % interval).
function withInterval(rec, mean, low, high, label) {
  const i = rec.columns.indexOf(mean), lo = rec.columns.indexOf(low), hi = rec.columns.indexOf(high);
  if (i < 0 || lo < 0 || hi < 0) return rec;
  const keep = rec.columns.map((c, k) => k).filter((k) => k !== lo && k !== hi);
  return { columns: keep.map((k) => k === i ? label : rec.columns[k]),
    rows: rec.rows.map((r) => keep.map((k) => k !== i ? r[k] : (r[i] === null ? "" :
      fmt(r[i]) + (r[lo] === null || r[hi] === null ? "" : ` [${fmt(r[lo])}, ${fmt(r[hi])}]`)))) };
}

function pick(rec, columns) {
  const idx = columns.map((c) => rec.columns.indexOf(c)).filter((k) => k >= 0);
  return { columns: idx.map((k) => rec.columns[k]), rows: rec.rows.map((r) => idx.map((k) => r[k])) };
}

// Money with three significant digits below $1 (0.000650, not 0.0006), cents above.
const money = (v) => v === null || v === undefined ? "" : (v === 0 ? "0" : (Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)));
const pct = (v) => v === null || v === undefined ? "" : (100 * v).toFixed(1) + "%";
const usd = (v) => v === null || v === undefined ? "–" : "$" + money(v);

function link(stage, id, label) {
  return `<a href="#g=${encodeURIComponent(stage + "/" + id)}">${esc(label ?? id)}</a>`;
}

function renderOverview() {
  const sum = D.summary, col = (n) => sum.columns.indexOf(n);
  const all = sum.rows.find((r) => r[0] === "all") || [];
  const m = D.meta;
  $("dd-sub").textContent = `data root ${m.data_root} · cohort ${m.cohort_id || "?"} · written ${m.written_at}` +
    (m.first_started_at ? ` · generated ${m.first_started_at} → ${m.last_finished_at}` : "");
  const o = D.overall;
  const pooled = o.scale && o.scale.includes(";") ? ` <span class="st-failed">pools scales ${esc(o.scale)}</span>` : "";
  const meanCard = o.average === undefined || o.average === null ? card("mean score", "–") :
    `<div class="card"><div class="v">${fmt(o.average)} <span class="muted" style="font-size:13px">${o.ci_low === null ? "" : `[${fmt(o.ci_low)}, ${fmt(o.ci_high)}]`}</span></div><div class="k">mean score (95% interval) over ${fmt(o.n_essays)} essays, ${fmt(o.count)} evaluations${pooled}</div></div>`;
  const cards = [
    ...STAGES.map((s) => { const r = sum.rows.find((x) => x[0] === s) || [];
      return card(`${s}s complete / total`, `${fmt(r[col("complete")])} / ${fmt(r[col("generations")])}`); }),
    card("failed", `<span class="${all[col("failed")] ? "st-failed" : ""}">${fmt(all[col("failed")])}</span>`),
    card("LLM calls (cache hits)", `${fmt(all[col("llm_calls")])} (${fmt(all[col("cache_hits")])})`),
    card("tokens in / out", `${fmt(all[col("prompt_tokens")])} / ${fmt(all[col("completion_tokens")])}`),
    card("cost", usd(all[col("cost")])),
    card("LLM time (sum)", `${fmt(all[col("llm_latency_s")], 1)} s`),
    meanCard,
  ].join("");
  const su = D.success, suCol = (n) => su.table.columns.indexOf(n);
  const cohort = su.table.rows.find((r) => r[suCol("group_by")] === "cohort");
  const lead = su.thresholds && cohort ? [
    `<div class="card lead"><div class="v">${pct(cohort[suCol("success_rate")])} <span class="muted" style="font-size:13px">[${pct(cohort[suCol("ci_low")])}, ${pct(cohort[suCol("ci_high")])}]</span></div><div class="k">success rate: ${fmt(cohort[suCol("successes")])} of ${fmt(cohort[suCol("essays")])} essays (95% interval)</div></div>`,
    `<div class="card lead"><div class="v">${usd(cohort[suCol("cost_per_success_usd")])}</div><div class="k">cost per successful essay</div></div>`,
    `<div class="card lead"><div class="v">${usd(cohort[suCol("cost_per_point_usd")])}</div><div class="k">cost of an essay per point of its mean score</div></div>`,
  ].join("") : "";
  const leadNote = su.thresholds ? `<p class="note">Success: ${esc(su.rule)}; targets ${esc(su.targets)}. Cost: what was paid (cache reuse costs 0), each essay with its evaluations and a share of its draft.</p>` : "";
  const costCols = su.thresholds ?
    ["group_by", "group", "essays", "successes", "success_rate", "ci_low", "ci_high", "essays_unscored", "mean_score", "mean_ci_low", "mean_ci_high", "cost_usd", "cost_per_success_usd", "cost_per_point_usd"] :
    ["group_by", "group", "essays", "essays_unscored", "mean_score", "mean_ci_low", "mean_ci_high", "cost_usd", "cost_per_essay_usd", "cost_per_point_usd"];
  const costTable = withInterval(withInterval(pick(su.table, costCols), "success_rate", "ci_low", "ci_high", "success_rate [95% interval]"),
    "mean_score", "mean_ci_low", "mean_ci_high", "mean_score [95% interval]");
  const suScale = su.table.rows.length ? su.table.rows[0][suCol("scale")] : "";
  const scaleNote = suScale && suScale.includes(";") ? `<p class="note">mean_score pools points of rubrics with different scales (${esc(suScale)}).</p>` : "";
  const costHTML = `<h3>${su.thresholds ? "Success and cost" : "Cost and score"} per template and model <span class="muted">(per combination: 6_summary/success_by_group.csv)</span></h3>` +
    (su.thresholds ? "" : '<p class="note">No rubric declares a success_threshold (evaluation_templates.csv), so there is no success rate; mean_score is over every rubric.</p>') +
    `<p class="note">essays: the essays scored on every target rubric, the n of the success rate and of mean_score (a t-interval over essays).</p>${scaleNote}` +
    `<div class="scroll">${tableHTML(costTable)}</div>`;
  const keep = ["stage", "generations", "complete", "failed", "incomplete", "not_generated", "truncated",
    "parse_failures", "llm_calls", "cache_hits", "copies", "prompt_tokens", "completion_tokens", "cost",
    "llm_latency_s", "duration_s", "parse_failure_rate", "truncation_rate", "reparsed"];
  const idx = keep.map(col);
  const perStage = { columns: keep, rows: sum.rows.map((r) => idx.map((k) => r[k])) };
  const f = D.failures;
  const failRows = { columns: ["stage", "gen_id", "status", "kind", "reason"], rows: f.rows };
  const failHTML = f.total === 0 ? '<p class="muted">No failed or incomplete generation.</p>' :
    tableHTML(f.counts) + `<h3>Failures (${f.total}${f.total > f.rows.length ? `, first ${f.rows.length} listed` : ""})</h3>` +
    `<div class="scroll">${tableHTML(failRows, { cell: (c, v, r) => c === "gen_id" ? link(r[0], v) : null })}</div>`;
  return `<section id="overview"><h2>Cohort overview</h2>${lead ? `<div class="cards">${lead}</div>${leadNote}` : ""}<div class="cards">${cards}</div>
    ${su.thresholds ? costHTML : ""}
    <h3>Generations per stage</h3><div class="scroll">${tableHTML(perStage)}</div>
    ${su.thresholds ? "" : costHTML}
    <h3>Failures and reasons</h3>${failHTML}
    ${m.orphans ? `<p class="muted">${m.orphans} generation folder(s) under gens/ belong to no task of this cohort (other cohorts); they are not counted.</p>` : ""}
  </section>`;
}

function plotDivs(section) {
  const figs = D.figures.filter((f) => f.section === section);
  if (!figs.length) return "";
  if (typeof Plotly === "undefined") return '<p class="muted">Plots need the plotly package when the report is written (pip install plotly).</p>';
  const caption = (f) => (f.caption || []).map((c) => `<p class="sentence">${esc(c)}</p>`).join("");
  // A comparison plot is as wide as the page: its sentences sit above it, one per pair of levels.
  const wide = section === "compare" || section === "cohorts" ? " wide" : "";
  return `<div class="plots${wide}">${figs.map((f) => `<div>${caption(f)}<div class="plot" id="plot-${f.id}"></div></div>`).join("")}</div>`;
}

function renderPlotsSection() {
  if (!D.figures.length) return `<section id="plots"><h2>Scores</h2><p class="muted">No score yet.</p></section>`;
  const means = withInterval(D.grouped_means, "mean", "ci_low", "ci_high", "mean [95% interval]");
  return `<section id="plots"><h2>Scores</h2>
    <p class="note">n counts independent essays (an essay's evaluations are not independent); each mean's 95% interval is a t-interval over essays, with a standard error that counts essays, not evaluations (black bars on the plots).</p>
    ${plotDivs("scores")}
    <h3>Grouped means <span class="muted">(every grouping: 6_summary/final_results.csv)</span></h3>
    <div class="scroll">${tableHTML(means)}</div></section>`;
}

function renderAgreement() {
  const a = D.agreement;
  if (!a.by_rubric.rows.length) return `<section id="agreement"><h2>Agreement between graders</h2><p class="muted">No score yet.</p></section>`;
  const rubric = withInterval(pick(a.by_rubric, ["evaluation_template", "scale", "graders", "grader_models", "essays", "agreement", "ci_low", "ci_high",
    "mean_pairwise_pearson", "high_agreement_essays", "moderate_agreement_essays", "low_agreement_essays", "poor_agreement_essays"]),
    "agreement", "ci_low", "ci_high", "alpha [95% interval]");
  const method = a.by_rubric.rows.length ? a.by_rubric.rows[0][a.by_rubric.columns.indexOf("method")] : "";
  const noise = a.noise.rows.length ? `<h3>Generation noise and grader noise <span class="muted">(replicates; pooled standard deviations)</span></h3>
    <p class="note">generation_sd: between replicate essays of one condition, same grader; rerun_sd: one grader re-scoring one essay; between_grader_sd: between graders on one essay.</p>
    <div class="scroll">${tableHTML(a.noise)}</div>` : "";
  return `<section id="agreement"><h2>Agreement between graders <span class="muted">(within each rubric)</span></h2>
    <p class="note">Graders (evaluation models) are compared only on the same rubric. ${esc(method)}. Alpha is 1 for perfect agreement and near 0 for agreement no better than chance.</p>
    <div class="scroll">${tableHTML(rubric)}</div>
    <h3>Each grader against the others</h3><p class="note">mean_score: over the essays_scored essays it scored, with a t-interval over them; essays: those the other graders scored too.</p>
    <div class="scroll">${tableHTML(withInterval(a.graders, "mean_score", "mean_ci_low", "mean_ci_high", "mean_score [95% interval]"))}</div>
    ${noise}
    <p class="note">Per essay, the spread of its graders' scores on one rubric as a share of the scale: ≤10% high, ≤20% moderate, ≤30% low, more poor (upstream's 1, 2, 3 points on 0-10). Each file in 6_summary: agreement_by_rubric, grader_agreement, grader_pairs, essay_agreement_by_rubric.</p>
    ${plotDivs("agreement")}
    <p class="note">Upstream's evaluator_agreement_analysis.csv pools an essay's scores across rubrics; it is kept for compatibility and labelled as pooled.</p></section>`;
}

// A comparisons table: each mean with its interval, B - A with its interval, p and Holm's p.
function comparisonTable(c, first) {
  let rec = pick(c, [...first, "unit", "pairs", "mean_a", "mean_a_ci_low", "mean_a_ci_high", "n_a", "mean_b", "mean_b_ci_low",
    "mean_b_ci_high", "n_b", "difference", "ci_low", "ci_high", "p_value", "p_holm", "measure", "unpaired_a", "unpaired_b", "written"]);
  rec = withInterval(rec, "difference", "ci_low", "ci_high", "B - A [95% interval]");
  rec = withInterval(rec, "mean_a", "mean_a_ci_low", "mean_a_ci_high", "mean A [95% interval]");
  return withInterval(rec, "mean_b", "mean_b_ci_low", "mean_b_ci_high", "mean B [95% interval]");
}

function methods(c) {
  const k = c.columns.indexOf("method");
  return [...new Set(c.rows.map((r) => r[k]))].map((m) => `<p class="note">${esc(m)}.</p>`).join("");
}

function renderComparisons() {
  const c = D.comparisons, k = D.cohort_comparisons;
  if (!c.rows.length && !k.rows.length) return `<section id="compare"><h2>Comparisons</h2><p class="muted">No factor has two levels with scores.</p></section>`;
  const col = (n) => c.columns.indexOf(n);
  // The plotted comparisons have their sentence above their plot; the others are listed here.
  const shown = new Set(typeof Plotly === "undefined" ? [] : D.figures.flatMap((f) => f.caption || []));
  const sentences = c.rows.filter((r) => !shown.has(r[col("sentence")]))
    .map((r) => `<p class="sentence">${esc(r[col("factor")])}: ${esc(r[col("sentence")])}</p>`).join("");
  const holm = c.rows.length && c.rows[0][col("holm_tests")] ? ` p_holm: Holm's step-down adjustment over the ${c.rows[0][col("holm_tests")]} comparisons of this table.` : "";
  const within = c.rows.length ? `<p class="note">Each pair is one combination (template and model factors) or one essay (grader and rubric factors), scored by the same grader on the same rubric; n counts essays; mean A and mean B are over the pairs.${holm}</p>
    ${methods(c)}${plotDivs("compare")}${sentences}
    <div class="scroll">${tableHTML(comparisonTable(c, ["factor", "level_a", "level_b"]))}</div>` : '<p class="muted">No factor has two levels with scores.</p>';
  const kc = (n) => k.columns.indexOf(n);
  const notes = k.rows.filter((r) => r[kc("note")]).map((r) => `<p class="note">${esc(r[kc("level_a")])}: ${esc(r[kc("note")])}.</p>`).join("");
  const cohorts = k.rows.length ? `<h3>Against other cohorts <span class="muted">(daydream compare --cohort A --against ${esc(k.rows.length ? k.rows[0][kc("level_b")] : "")}; 6_summary/compare_&lt;A&gt;.csv)</span></h3>
    <p class="note">B is this cohort. Paired on the combinations both cohorts scored, with the same rubric and grader; what differs between the cohorts is averaged within each combination. Written when the command ran (column written): run it again after either cohort changes.</p>
    ${notes}${methods(k)}${plotDivs("cohorts")}
    ${k.rows.filter((r) => !shown.has(r[kc("sentence")])).map((r) => `<p class="sentence">${esc(r[kc("sentence")])}</p>`).join("")}
    <div class="scroll">${tableHTML(comparisonTable(k, ["level_a", "level_b"]))}</div>` : "";
  return `<section id="compare"><h2>Comparisons <span class="muted">(paired; daydream compare --factor COLUMN --levels A,B)</span></h2>
    ${within}${cohorts}</section>`;
}

function drawPlots() {
  if (typeof Plotly === "undefined") return;
  for (const f of D.figures) {
    const layout = Object.assign({ template: D.plot_template || undefined }, f.figure.layout);
    Plotly.newPlot("plot-" + f.id, f.figure.data, layout, { displaylogo: false, responsive: true });
  }
}

function renderTop() {
  const t = D.top_essays;
  if (!t.rows.length) return `<section id="top"><h2>Top essays</h2><p class="muted">No scored essay yet.</p></section>`;
  const drop = new Set(["rank", "draft_gen_id", "generation_template", "draft_replicate", "essay_replicate", "essay_path"]);
  const keep = t.columns.map((c, k) => [c, k]).filter(([c]) => !drop.has(c));
  const rec = { columns: keep.map(([c]) => c === "rank_label" ? "rank" : c), rows: t.rows.map((r) => keep.map(([, k]) => r[k])) };
  const combos = withInterval(pick(D.combinations, ["rank_label", "combo_id", "concept_names", "n_essays", "average", "ci_low", "ci_high", "count",
    "perfect_scores", "high_scores_on_scale", "unscored", "best_essay_gen_id", "best_essay_mean"]), "average", "ci_low", "ci_high", "average [95% interval]");
  combos.columns = combos.columns.map((c) => c === "rank_label" ? "rank" : c);
  return `<section id="top"><h2>Top essays <span class="muted">(best ${t.rows.length}; all in 6_summary/top_essays.csv)</span></h2>
    <p class="note">Ties are marked (1= means tied for first): ${esc(D.tie_order.top_essays)}.</p>
    <div class="scroll">${tableHTML(rec, { cell: (c, v) => c === "essay_gen_id" ? link("essay", v) : null })}</div>
    <h3>Concept combinations <span class="muted">(best ${combos.rows.length}; all in 6_summary/scores_by_combination.csv)</span></h3>
    <p class="note">${esc(D.tie_order.scores_by_combination)}.</p>
    <div class="scroll">${tableHTML(combos, { cell: (c, v) => c === "best_essay_gen_id" && v ? link("essay", v) : null })}</div></section>`;
}

function options(values, label) {
  return `<option value="">${esc(label)}</option>` + [...new Set(values)].filter((v) => v !== "").sort()
    .map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
}

function renderBrowser() {
  return `<section id="browser"><h2>Generations <span class="muted">(${G.length})</span></h2>
    <div class="filters">
      <select id="f-stage">${options(STAGES, "every stage")}</select>
      <select id="f-status">${options(D.statuses, "every status")}</select>
      <select id="f-template">${options(G.map((g) => g.template), "every template")}</select>
      <select id="f-model">${options(G.map((g) => g.model), "every model")}</select>
      <input type="search" id="f-q" placeholder="search ids, concepts, templates, errors">
      <label><input type="checkbox" id="f-texts"> search texts too</label>
      <label>score ≥ <input type="number" id="f-min" min="0" max="10" step="0.5" style="width:60px"></label>
    </div>
    <div class="browser"><div>
      <div class="pager"><button id="p-prev">‹ prev</button><span id="p-info"></span><button id="p-next">next ›</button>
        <label>rows <select id="p-size"><option>25</option><option selected>50</option><option>100</option><option>500</option><option value="all">all</option></select></label></div>
      <table><thead><tr>${[["stageName", "stage"], ["id", "gen_id"], ["statusName", "status"], ["template", "template"],
        ["model", "model"], ["concepts", "concepts"], ["value", "score"], ["n", "n"], ["cost", "cost"], ["tokens_out", "tokens out"]]
        .map(([k, l]) => `<th class="sortable" data-k="${k}">${l}</th>`).join("")}</tr></thead><tbody id="dd-rows"></tbody></table>
    </div><div id="dd-detail"><p class="muted">Click a generation to see its prompt, texts, metadata, scores and lineage.</p></div></div>
  </section>`;
}

function matches(g) {
  if (state.stage && g.stageName !== state.stage) return false;
  if (state.status && g.statusName !== state.status) return false;
  if (state.template && g.template !== state.template) return false;
  if (state.model && g.model !== state.model) return false;
  if (state.minScore !== "" && !(g.value !== null && g.value >= Number(state.minScore))) return false;
  if (state.q) {
    const q = state.q.toLowerCase();
    if (!g.hay.includes(q)) {
      if (!state.texts) return false;
      const body = [text(g.raw, g), text(g.parsed, g), text(g.prompt, g)].join("\n").toLowerCase();
      if (!body.includes(q)) return false;
    }
  }
  return true;
}

let view = [];
function refresh(keepPage = false) {
  view = G.filter(matches);
  if (state.sort) {
    const k = state.sort, dir = state.dir;
    view.sort((a, b) => {
      const x = a[k], y = b[k];
      if (x === y) return a.i - b.i;
      if (x === null || x === undefined || x === "") return 1;
      if (y === null || y === undefined || y === "") return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
    });
  }
  if (!keepPage) state.page = 0;
  drawRows();
}

function drawRows() {
  const size = state.size === "all" ? Math.max(view.length, 1) : Number(state.size);
  const pages = Math.max(1, Math.ceil(view.length / size));
  state.page = Math.min(state.page, pages - 1);
  const start = state.page * size, rows = view.slice(start, start + size);
  $("p-info").textContent = view.length ? `${start + 1}–${start + rows.length} of ${view.length} (page ${state.page + 1}/${pages})` : "no match";
  $("dd-rows").innerHTML = rows.map((g) => `<tr data-i="${g.i}" data-gen-id="${esc(g.id)}"${g.i === state.selected ? ' class="sel"' : ""}>
    <td>${g.stageName}</td><td class="gid">${esc(g.id)}</td><td class="st-${g.statusName.replace(" ", "-")}">${g.statusName}</td>
    <td>${esc(g.template)}</td><td>${esc(g.model)}</td><td class="concepts" title="${esc(g.concepts)}">${esc(g.concepts)}</td>
    <td class="num score">${fmt(g.value)}</td><td class="num">${g.n ?? ""}</td><td class="num">${fmt(g.cost, 4)}</td>
    <td class="num">${fmt(g.tokens_out)}</td></tr>`).join("");
}

function showDetail(g) {
  state.selected = g.i;
  document.querySelectorAll("#dd-rows tr.sel").forEach((tr) => tr.classList.remove("sel"));
  const tr = document.querySelector(`#dd-rows tr[data-i="${g.i}"]`); if (tr) tr.classList.add("sel");
  const chain = [];
  for (let p = g; p; p = p.parent >= 0 ? G[p.parent] : null) chain.unshift(p);
  const lineage = [`<span class="chip">${esc(g.concepts || "no combination")}</span>`]
    .concat(chain.map((p) => `› ${p.stageName} ${p === g ? `<b>${esc(p.id)}</b>` : link(p.stageName, p.id)}`)).join(" ");
  const kids = g.children.map((c) => G[c]);
  const kidsHTML = kids.length ? `<h3>${g.stage === 0 ? "Essays" : "Evaluations"} (${kids.length})</h3>` + kids.map((k) =>
    `<div>${link(k.stageName, k.id)} <span class="chip">${esc(k.template)} · ${esc(k.model)}</span>
     <span class="st-${k.statusName.replace(" ", "-")}">${k.statusName}</span>
     ${k.value !== null && k.value !== undefined ? `<span class="score">score ${fmt(k.value)}</span>${k.stage === 1 ? ` <span class="muted">(n=${k.n})</span>` : ""}` : ""}</div>`).join("") : "";
  const kv = [["stage", g.stageName], ["status", g.statusName], ["template", g.template], ["model", g.model],
    ["replicate", g.replicate], ["score", g.stage === 2 ? fmt(g.score) : (g.value !== null ? `${fmt(g.value)} (mean of ${g.n})` : "")],
    ["tokens in / out", `${fmt(g.tokens_in)} / ${fmt(g.tokens_out)}`], ["cost", fmt(g.cost, 6)], ["latency", g.latency !== null ? fmt(g.latency) + " s" : ""],
    ["error", g.error ? `<span class="st-failed">${esc(g.kind ? g.kind + ": " : "")}${esc(g.error)}</span>` : ""]];
  const block = (name, t, open) => `<details${open ? " open" : ""}><summary>${name}${t === null ? ' <span class="muted">(absent)</span>' : ` <span class="muted">(${t.length.toLocaleString("en-US")} chars)</span>`}</summary>${t === null ? "" : `<pre>${esc(t)}</pre>`}</details>`;
  const parsed = text(g.parsed, g), raw = text(g.raw, g);
  $("dd-detail").innerHTML = `<h2>${g.stageName} <code>${esc(g.id)}</code></h2><div class="lineage">${lineage}</div>
    <table class="kv">${kv.filter(([, v]) => v !== "" && v !== null && v !== undefined).map(([k, v]) => `<tr><td>${k}</td><td>${k === "error" ? v : esc(v)}</td></tr>`).join("")}</table>
    ${kidsHTML}
    ${block("Parsed", parsed, true)}${block("Raw", raw, raw !== parsed)}${block("Prompt", text(g.prompt, g), false)}
    <details><summary>metadata.json</summary><pre>${esc(g.meta ? JSON.stringify(typeof g.meta === "string" ? JSON.parse(g.meta) : g.meta, null, 2) : "(absent)")}</pre></details>`;
}

function route() {
  const m = location.hash.match(/^#g=(.+)$/);
  if (!m) return;
  const g = byKey.get(decodeURIComponent(m[1]));
  if (!g) return;
  const pos = view.indexOf(g);
  if (pos < 0) { Object.assign(state, { stage: "", status: "", template: "", model: "", q: "", minScore: "" });
    ["f-stage", "f-status", "f-template", "f-model", "f-q", "f-min"].forEach((id) => $(id).value = ""); refresh(); }
  const size = state.size === "all" ? view.length : Number(state.size);
  state.page = Math.floor(Math.max(0, view.indexOf(g)) / Math.max(size, 1));
  drawRows(); showDetail(g);
  $("browser").scrollIntoView();
}

function bind() {
  const on = (id, ev, fn) => $(id).addEventListener(ev, fn);
  on("f-stage", "change", (e) => { state.stage = e.target.value; refresh(); });
  on("f-status", "change", (e) => { state.status = e.target.value; refresh(); });
  on("f-template", "change", (e) => { state.template = e.target.value; refresh(); });
  on("f-model", "change", (e) => { state.model = e.target.value; refresh(); });
  let timer; on("f-q", "input", (e) => { clearTimeout(timer); timer = setTimeout(() => { state.q = e.target.value.trim(); refresh(); }, 150); });
  on("f-texts", "change", (e) => { state.texts = e.target.checked; refresh(); });
  on("f-min", "input", (e) => { state.minScore = e.target.value; refresh(); });
  on("p-prev", "click", () => { if (state.page > 0) { state.page--; drawRows(); } });
  on("p-next", "click", () => { state.page++; drawRows(); });
  on("p-size", "change", (e) => { state.size = e.target.value; state.page = 0; drawRows(); });
  on("dd-rows", "click", (e) => { const tr = e.target.closest("tr"); if (tr) showDetail(G[Number(tr.dataset.i)]); });
  document.querySelectorAll("th.sortable").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.k;
    state.dir = state.sort === k ? -state.dir : (k === "value" || k === "cost" || k === "tokens_out" || k === "n" ? -1 : 1);
    state.sort = k;
    document.querySelectorAll("th.sortable").forEach((x) => x.classList.remove("asc", "desc"));
    th.classList.add(state.dir > 0 ? "asc" : "desc");
    refresh();
  }));
  window.addEventListener("hashchange", route);
}

function applyParams() {
  const p = new URLSearchParams(location.search);
  if (p.get("rows")) { state.size = p.get("rows"); $("p-size").value = state.size; }
  for (const [k, id] of [["stage", "f-stage"], ["status", "f-status"], ["q", "f-q"]]) {
    if (p.get(k)) { state[k] = p.get(k); $(id).value = state[k]; }
  }
}

(async function main() {
  try { D = await loadData(); } catch (e) {
    $("dd-loading").textContent = "Could not read the embedded data (" + e + "). This page needs a browser with " +
      "DecompressionStream: Chrome or Edge 80+, Firefox 113+, Safari 16.4+.";
    return;
  }
  prepare();
  $("dd-app").innerHTML = renderOverview() + renderPlotsSection() + renderAgreement() + renderComparisons() + renderTop() + renderBrowser();
  $("dd-loading").remove();
  bind(); applyParams(); refresh(); drawPlots(); route();
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
})();
"""
