"""``write_report(data_root)``: the cohort as one self-contained HTML file.

Everything is inside the file: the styles, the page's script, plotly.js (from the ``plotly``
package, no CDN) and the data. The data (every generation's prompt, raw and parsed text, metadata
and scores, plus the figures) is one JSON document, gzip-compressed and base64-encoded; the page
inflates it with the browser's ``DecompressionStream``. To keep it small, identical texts are stored
once, and a prompt that contains its parent's parsed text (an essay prompt holds its draft, an
evaluation prompt its essay) is stored as the text around it.

The page: a cohort overview (led by the success rate and the cost per success when the rubrics
declare success thresholds; generations per stage and status, failures with reasons, calls, tokens,
cost, time; cost and score per template and model), scores (distributions by draft template, essay
template, generation model and evaluator with n in essays and each mean's 95 % interval; grouped
means; mean score per concept), agreement (per rubric: Krippendorff's alpha with its interval,
graders, per-essay spread within the rubric; generation vs grader noise when replicates exist),
comparisons (every pair of levels, paired, Holm-adjusted, and a difference plot per factor; the
cohorts this one was compared with by ``daydream compare --against``), the top
essays and combinations (ties marked ``1=``, names in full), and a browser of every generation
(filter, sort, paginate; ``?rows=all`` shows every row on one page) whose detail shows the prompt,
raw and parsed texts, the metadata, the scores and the lineage draft -> essay -> evaluations as links.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
import os
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daydreaming_dagster.core.layout import SUMMARY_DIR
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES
from daydreaming_dagster.engine.store import PARSED, PROMPT, RAW
from daydreaming_dagster.results import compare, scale, tables
from daydreaming_dagster.results._report_static import PAGE_CSS, PAGE_JS
from daydreaming_dagster.results.lineage import (
    COMPLETE,
    FAILED,
    INCOMPLETE,
    STATUSES,
    CohortView,
    load_cohort_view,
    read_text_file,
    records,
)

STAGE_CODES = {stage: code for code, stage in enumerate(STAGES)}
# Fields of one generation row in the embedded data (the page's script reads them by position).
GEN_FIELDS = [
    "stage", "id", "parent", "status", "template", "model", "combo", "score", "error", "kind",
    "tokens_in", "tokens_out", "cost", "latency", "prompt", "raw", "parsed", "meta", "replicate",
]
MAX_FAILURES_LISTED = 500
TOP_ESSAYS_SHOWN = 25
DIFFERENCE_POINTS_SHOWN = 2_000  # above this many pairs a difference plot shows a box without points
# Grouped means shown in the report (every grouping is in 6_summary/final_results.csv).
REPORT_GROUPS = ["by_draft_template", "by_generation_template", "by_generation_model", "by_evaluation_template",
                 "by_evaluation_model", "by_evaluator", "overall_statistics"]
SPLIT_MIN_CHARS = 64  # a parent text shorter than this is not worth a reference
GZIP_LEVEL = 3  # level 6 is 4x slower for 11% less


class _Interner:
    def __init__(self) -> None:
        self.strings: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, text: str) -> int:
        index = self._index.get(text)
        if index is None:
            index = self._index[text] = len(self.strings)
            self.strings.append(text)
        return index


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _generation_rows(view: CohortView) -> tuple[list[list[Any]], list[str], list[dict[str, Any]]]:
    gens = view.generations
    interner = _Interner()
    combo_ids = sorted(set(gens["combo_id"]))
    combo_index = {c: i for i, c in enumerate(combo_ids)}
    combos = [
        {"id": c, "concepts": [view.concept_names.get(k, k) for k in view.combos.get(c, ())]} for c in combo_ids
    ]
    position = {(s, g): i for i, (s, g) in enumerate(zip(gens["stage"], gens["gen_id"], strict=True))}
    parsed_texts: dict[int, str | None] = {}
    rows: list[list[Any]] = []
    for i, g in enumerate(records(gens)):
        stage = g["stage"]
        gen_dir = g["gen_dir"]
        parent = position.get((STAGE_FACTS[stage].parent or "", g["parent_gen_id"]), -1)
        prompt, raw, parsed = (read_text_file(os.path.join(gen_dir, n)) for n in (PROMPT, RAW, PARSED))
        parsed_texts[i] = parsed
        parent_text = parsed_texts.get(parent) if parent >= 0 else None
        prompt_ref: int | list[int] | None = None
        if prompt is not None:
            cut = prompt.find(parent_text) if parent_text and len(parent_text) >= SPLIT_MIN_CHARS else -1
            if cut >= 0:
                assert parent_text is not None
                prompt_ref = [interner.add(prompt[:cut]), interner.add(prompt[cut + len(parent_text):])]
            else:
                prompt_ref = interner.add(prompt)
        error = g["error"]
        if stage == "evaluation" and g["status"] == COMPLETE and not error:
            error = g["score_error"]  # complete, but its parsed.txt holds no valid score
        rows.append([
            STAGE_CODES[stage], g["gen_id"], parent, STATUSES.index(g["status"]), g["template_id"],
            g["model_id"], combo_index.get(g["combo_id"], -1), _clean(g["score"]), error,
            g["failure_kind"], _clean(g["prompt_tokens"]), _clean(g["completion_tokens"]), _clean(g["cost"]),
            _clean(g["latency_s"]), prompt_ref,
            interner.add(raw) if raw is not None else None,
            interner.add(parsed) if parsed is not None else None,
            view.metadata_texts.get((stage, g["gen_id"])), int(g["replicate"]),  # the page parses it
        ])
    return rows, interner.strings, combos


def _frame_records(frame: pd.DataFrame, columns: list[str] | None = None, limit: int | None = None) -> dict[str, Any]:
    part = frame if columns is None else frame.reindex(columns=columns)
    if limit is not None:
        part = part.head(limit)
    return {
        "columns": [str(c) for c in part.columns],
        "rows": [[_clean(v) for v in row] for row in part.itertuples(index=False, name=None)],
    }


def _figure(fig_id: str, title: str, data: list[dict[str, Any]], *, section: str = "scores",
            score_range: tuple[float, float] = (0.0, 10.0), **layout: Any) -> dict[str, Any]:
    low, high = score_range
    base: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}}, "height": 360, "showlegend": False,
        "margin": {"l": 50, "r": 20, "t": 50, "b": 80},
        "yaxis": {"title": {"text": "score"}, "range": [low - 0.5, high + 0.5], "dtick": 1},
    }
    base.update(layout)
    return {"id": fig_id, "section": section, "figure": {"data": data, "layout": base}}


def _score_range(valid: pd.DataFrame) -> tuple[float, float]:
    """The widest range over the rubrics' scales (upstream's 0-10 by default)."""
    framed = scale.with_scale(valid)
    return float(framed["score_min"].min()), float(framed["score_max"].max())


def _interval_marker(name: str, mean: float, low: float, high: float) -> dict[str, Any]:
    """A mean with its 95 % interval, drawn over a box plot's category ``name``."""
    error = {"type": "data", "symmetric": False, "array": [high - mean], "arrayminus": [mean - low],
             "color": "#222", "thickness": 1.5, "width": 8}
    return {"type": "scatter", "mode": "markers", "x": [name], "y": [mean], "marker": {"color": "#222", "size": 7},
            "error_y": error if not (math.isnan(low) or math.isnan(high)) else None,
            "hovertemplate": f"{html.escape(name)}<br>mean %{{y:.2f}} [{low:.2f}, {high:.2f}] (95% interval)<extra></extra>"}


def _figures(scores: pd.DataFrame, frames: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Plotly figures as plotly.js JSON (the page draws them with the embedded plotly.js)."""
    valid = tables.valid_scores(scores)
    if valid.empty:
        return []
    by_concept = frames["scores_by_concept"]
    score_range = _score_range(valid)
    figures: list[dict[str, Any]] = []
    points = "all" if len(valid) <= 3000 else "outliers"
    final = frames["final_results"]
    for key, title, analysis_type, keys in (
        ("draft_template", "Scores by draft template", "by_draft_template", ["draft_template"]),
        ("essay_template", "Scores by essay template", "by_generation_template", ["generation_template"]),
        ("generation_model", "Scores by generation model", "by_generation_model", ["generation_model"]),
        ("evaluator", "Scores by evaluator (template · model)", "by_evaluator",
         ["evaluation_template", "evaluation_model"]),
    ):
        intervals = final[final["analysis_type"] == analysis_type]
        traces: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        for value, group in valid.groupby(key, sort=True):
            name = f"{str(value).replace('__', ' · ')} (n={group['essay_gen_id'].nunique()} essays)"
            traces.append({"type": "box", "y": [float(v) for v in group["score"]], "name": name, "boxmean": False,
                           "boxpoints": points, "jitter": 0.4, "pointpos": 0,
                           "marker": {"opacity": 0.35, "size": 4}})
            parts = str(value).split("__") if key == "evaluator" else [str(value)]
            match = intervals
            for column, part in zip(keys, parts, strict=False):
                match = match[match[column] == part]
            if len(match):
                row = match.iloc[0]
                markers.append(_interval_marker(name, float(row["average"]), float(row["ci_low"]),
                                                float(row["ci_high"])))
        figures.append(_figure(f"by_{key}", f"{title} (● mean, 95% interval)", traces + markers,
                               score_range=score_range, xaxis={"automargin": True}))
    if not by_concept.empty:
        concept = by_concept.dropna(subset=["average"]).sort_values("average")
        figures.append(_figure(
            "by_concept", "Mean score per concept (all combinations with it; 95% interval)",
            [{"type": "bar", "orientation": "h", "x": [float(a) for a in concept["average"]],
              "y": [str(n) for n in concept["concept_name"]], "marker": {"color": "#4c78a8"},
              "text": [f"{a:.2f} (n={n} essays)" for a, n in zip(concept["average"], concept["n_essays"], strict=True)],
              "textposition": "inside", "insidetextanchor": "start",
              "error_x": {"type": "data", "symmetric": False, "color": "#222",
                          "array": [_clean(h - a) for a, h in zip(concept["average"], concept["ci_high"], strict=True)],
                          "arrayminus": [_clean(a - lo) for a, lo in zip(concept["average"], concept["ci_low"], strict=True)]}}],
            xaxis={"title": {"text": "mean score"}, "range": list(score_range)}, yaxis={"automargin": True},
            height=max(300, 28 * len(concept) + 120),
        ))
    figures += _agreement_figures(frames)
    return figures


AGREEMENT_COLORS = {"high_agreement": "#54a24b", "moderate_agreement": "#eeca3b", "low_agreement": "#f58518",
                    "poor_agreement": "#e45756"}


def _agreement_figures(frames: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Per rubric: essays per agreement class (spread between graders on that rubric), and the
    mean |difference| between each pair of graders."""
    per_essay = frames["essay_agreement_by_rubric"]
    figures: list[dict[str, Any]] = []
    if not per_essay.empty:
        rubrics = sorted(per_essay["evaluation_template"].unique())
        counts = per_essay.groupby(["agreement_classification", "evaluation_template"]).size()
        traces = [
            {"type": "bar", "name": c.replace("_", " "), "x": rubrics, "marker": {"color": color},
             "y": [int(counts.get((c, r), 0)) for r in rubrics], "text": [int(counts.get((c, r), 0)) for r in rubrics],
             "textposition": "auto"}
            for c, color in AGREEMENT_COLORS.items()
        ]
        figures.append(_figure(
            "agreement", "Essays by grader agreement, within each rubric",
            traces, section="agreement", barmode="stack", showlegend=True, yaxis={"title": {"text": "essays"}},
        ))
    pairs = frames["grader_pairs"]
    for rubric, part in pairs.groupby("evaluation_template", sort=True):
        graders = sorted(set(part["grader_a"]) | set(part["grader_b"]))
        cell = {(a, b): r for a, b, r in zip(part["grader_a"], part["grader_b"],
                                             zip(part["mean_abs_difference"], part["essays"], strict=True),
                                             strict=True)}
        matrix: list[list[float | None]] = []
        text: list[list[str]] = []
        for a in graders:
            values = [None if a == b else cell.get((a, b)) or cell.get((b, a)) for b in graders]
            matrix.append([None if v is None else _clean(v[0]) for v in values])
            text.append(["" if v is None or v[1] is None else f"{v[0]:.2f} (n={v[1]})" for v in values])
        figures.append(_figure(
            f"grader_difference_{len(figures)}", f"{rubric}: mean |score difference| between graders, same essay",
            [{"type": "heatmap", "z": matrix, "x": graders, "y": graders, "text": text, "texttemplate": "%{text}",
              "colorscale": "Blues", "reversescale": True, "zmin": 0, "colorbar": {"title": {"text": "mean |Δ|"}}}],
            section="agreement", yaxis={"automargin": True}, xaxis={"automargin": True},
            height=max(320, 60 * len(graders) + 160),
        ))
    return figures


def _box(values: list[float], label: str, units: list[str], noun: str) -> dict[str, Any]:
    """One row of a difference plot: every pair's difference as a point over its box; above
    ``DIFFERENCE_POINTS_SHOWN`` pairs, the box's statistics only (the report stays small)."""
    box: dict[str, Any] = {"type": "box", "name": label, "orientation": "h", "boxmean": False,
                           "line": {"color": "#8aa"}, "y": [label]}
    if len(values) <= DIFFERENCE_POINTS_SHOWN:
        del box["y"]
        return {**box, "x": values, "boxpoints": "all", "jitter": 0.5, "pointpos": 0,
                "marker": {"opacity": 0.45, "size": 5}, "text": units,
                "hovertemplate": f"{noun} %{{text}}<br>difference %{{x:.2f}}<extra></extra>"}
    q1, median, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
    reach = 1.5 * (q3 - q1)  # Tukey's whiskers, as plotly draws them from the points
    inside = [v for v in values if q1 - reach <= v <= q3 + reach]
    return {**box, "q1": [q1], "median": [median], "q3": [q3], "lowerfence": [min(inside)],
            "upperfence": [max(inside)], "hoverinfo": "x"}


def _difference_figures(comparisons: list[compare.Comparison], *, prefix: str = "compare") -> list[dict[str, Any]]:
    """A difference plot per factor: one row per pair of levels with each pair's B - A, and the
    mean difference with its 95 % interval. The sentences go above the plot (``caption``), not in
    its title, where they were cut off."""
    figures = []
    by_factor: dict[str, list[compare.Comparison]] = {}
    for result in comparisons:
        if result.paired and result.pairs >= 2:
            by_factor.setdefault(result.factor, []).append(result)
    for number, (factor, results) in enumerate(by_factor.items()):
        traces: list[dict[str, Any]] = []
        noun = compare.UNIT_NOUNS.get(results[0].unit, results[0].unit)
        for result in results:
            differences = [float(d) for d in result.units["difference"]]
            label = f"{result.level_b} − {result.level_a}"
            traces.append(_box(differences, label, [str(u) for u in result.units["unit"]], noun))
            traces.append({
                "type": "scatter", "mode": "markers", "x": [result.difference], "y": [label],
                "marker": {"color": "#c62828", "size": 11, "symbol": "diamond"},
                "error_x": {"type": "data", "symmetric": False, "array": [_clean(result.ci_high - result.difference)],
                            "arrayminus": [_clean(result.difference - result.ci_low)], "color": "#c62828",
                            "thickness": 2.5, "width": 10},
                "hovertemplate": f"mean difference %{{x:.2f}} [{result.ci_low:.2f}, {result.ci_high:.2f}]<extra></extra>"})
        measure = " (fraction of scale)" if any(r.measure == compare.FRACTION for r in results) else ""
        figure = _figure(
            f"{prefix}_{factor}" if prefix == "compare" else f"{prefix}_{number}",
            f"{factor}: B − A per {noun}{measure}", traces, section=prefix,
            height=140 + 60 * len(results), yaxis={"automargin": True, "autorange": "reversed"},
            xaxis={"title": {"text": f"B − A, per {noun} (◆ mean, 95% interval)"}, "zeroline": True,
                   "zerolinewidth": 2, "zerolinecolor": "#444", "automargin": True},
        )
        figure["caption"] = [r.sentence for r in results]
        figures.append(figure)
    return figures


def _cohort_comparisons(view: CohortView) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The comparisons of this cohort against others (``daydream compare --cohort A --against
    <this>``, kept in its ``6_summary/compare_<A>.csv``): a table and a difference plot."""
    saved = compare.saved_comparisons(view.layout.results(SUMMARY_DIR))
    results = [result for result, _ in saved]
    table = pd.DataFrame([{**r.as_row(), "written": dt.datetime.fromtimestamp(written, dt.UTC).isoformat(
        timespec="seconds")} for r, written in saved], columns=[*compare.COLUMNS, "written"])
    return _frame_records(table), _difference_figures(results, prefix="cohorts")


def _failures(view: CohortView) -> dict[str, Any]:
    gens = view.generations
    failed = gens[gens["status"].isin([FAILED, INCOMPLETE])]
    counts = (
        failed.groupby(["stage", "status", "failure_kind"]).size().reset_index(name="count")
        if not failed.empty else pd.DataFrame(columns=["stage", "status", "failure_kind", "count"])
    )
    listed = failed.head(MAX_FAILURES_LISTED)
    return {
        "total": len(failed),
        "counts": _frame_records(counts),
        "rows": [
            [s, g, st, k, e] for s, g, st, k, e in zip(
                listed["stage"], listed["gen_id"], listed["status"], listed["failure_kind"], listed["error"], strict=False
            )
        ],
    }


def _plotly() -> tuple[str, dict[str, Any]] | None:
    """plotly.js and the ``plotly_white`` template, from the ``plotly`` package (None without it)."""
    try:
        import plotly.io as pio  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from plotly.offline import get_plotlyjs  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    return str(get_plotlyjs()), dict(pio.templates["plotly_white"].to_plotly_json())


def build_payload(
    view: CohortView, frames: Mapping[str, pd.DataFrame], *, template: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    scores = frames["parsed_scores"]
    summary = frames["generation_summary"]
    top = frames["top_essays"]
    rows, strings, combos = _generation_rows(view)
    cohort_table, cohort_figures = _cohort_comparisons(view)
    started = [s for s in view.generations["started_at"] if s]
    finished = [s for s in view.generations["finished_at"] if s]
    return {
        "meta": {
            "data_root": str(view.data_root),
            "cohort_id": view.cohort_id,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "first_started_at": min(started) if started else None,
            "last_finished_at": max(finished) if finished else None,
            "orphans": len(view.orphans),
        },
        "fields": GEN_FIELDS,
        "statuses": list(STATUSES),
        "strings": strings,
        "gens": rows,
        "combos": combos,
        "summary": _frame_records(summary),
        "failures": _failures(view),
        "top_essays": _frame_records(top, limit=TOP_ESSAYS_SHOWN),
        "combinations": _frame_records(frames["scores_by_combination"], limit=TOP_ESSAYS_SHOWN),
        "tie_order": dict(tables.TIE_ORDER),
        "grouped_means": _frame_records(_grouped_means(frames["final_results"])),
        "success": _success(frames["success_by_group"]),
        "agreement": {
            "by_rubric": _frame_records(frames["agreement_by_rubric"]),
            "graders": _frame_records(frames["grader_agreement"]),
            "noise": _frame_records(_noise_if_replicated(frames["noise_components"])),
        },
        "comparisons": _frame_records(frames["comparisons"]),
        "cohort_comparisons": cohort_table,
        "overall": _overall(frames["final_results"]),
        "figures": _figures(scores, frames)
        + _difference_figures(compare.plotted_comparisons(scores, frames["comparisons"])) + cohort_figures,
        "plot_template": dict(template) if template is not None else None,
    }


def _overall(final: pd.DataFrame) -> dict[str, Any]:
    """The overview's mean score: over every evaluation, n in essays, its 95 % interval, the scales."""
    row = final[final["analysis_type"] == "overall_statistics"]
    if row.empty:
        return {}
    first = row.iloc[0]
    return {k: _clean(first[k]) for k in ("average", "ci_low", "ci_high", "n_essays", "count", "scale")}


def _grouped_means(final: pd.DataFrame) -> pd.DataFrame:
    """The grouped means the report lists: what, n essays, mean and interval, evaluations."""
    part = final[final["analysis_type"].isin(REPORT_GROUPS)]
    keys = ["draft_template", "generation_template", "generation_model", "evaluation_template", "evaluation_model"]
    labels = pd.Series([" · ".join(str(v) for v in row if isinstance(v, str) and v)
                        for row in part[keys].itertuples(index=False, name=None)], index=part.index)
    return pd.DataFrame({
        "group": part["analysis_type"].str.removeprefix("by_").str.replace("generation_template", "essay_template"),
        "level": labels.where(labels != "", "all"), "n_essays": part["n_essays"], "mean": part["average"],
        "ci_low": part["ci_low"], "ci_high": part["ci_high"], "evaluations": part["count"], "scale": part["scale"],
    })


def _success(table: pd.DataFrame) -> dict[str, Any]:
    """success_by_group for the overview; ``thresholds`` says whether any rubric declares one."""
    declared = bool(len(table)) and bool(str(table["target_rubrics"].iloc[0]))
    shown = table[table["group_by"] != "combo_id"]
    return {"thresholds": declared, "rule": str(table["rule"].iloc[0]) if len(table) else "",
            "targets": str(table["target_rubrics"].iloc[0]) if len(table) else "",
            "table": _frame_records(shown)}


def _noise_if_replicated(noise: pd.DataFrame) -> pd.DataFrame:
    """The noise components, only when replicates make generation or grader noise measurable."""
    if noise.empty or (noise["generation_sd"].isna().all() and noise["rerun_sd"].isna().all()):
        return noise.iloc[0:0]
    return noise


def _json_chunks(payload: Mapping[str, Any], batch: int = 1000) -> Iterator[str]:
    """``json.dumps(payload)`` in pieces: long lists (the generations, the texts) ``batch`` items
    at a time, so the whole document never sits in memory as one string."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    yield "{"
    for n, (key, value) in enumerate(payload.items()):
        yield ("," if n else "") + dumps(key) + ":"
        if isinstance(value, list) and len(value) > batch:
            yield "["
            for i in range(0, len(value), batch):
                yield ("," if i else "") + dumps(value[i:i + batch])[1:-1]
            yield "]"
        else:
            yield dumps(value)
    yield "}"


def _blob_chunks(payload: Mapping[str, Any]) -> Iterator[str]:
    """The payload as JSON, gzip-compressed, base64-encoded: streamed, in pieces."""
    deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: a gzip container (header mtime 0)
    pending = b""

    def encode(data: bytes, final: bool = False) -> str:
        nonlocal pending
        pending += data
        cut = len(pending) if final else len(pending) - len(pending) % 3  # base64 works in 3-byte groups
        out, pending = pending[:cut], pending[cut:]
        return base64.b64encode(out).decode("ascii")

    for chunk in _json_chunks(payload):
        compressed = deflate.compress(chunk.encode("utf-8"))
        if compressed:
            yield encode(compressed)
    yield encode(deflate.flush(), final=True)


def _html_parts(payload: Mapping[str, Any], plotly_js: str | None) -> Iterator[str]:
    title = f"DayDreaming report · {payload['meta'].get('cohort_id') or Path(payload['meta']['data_root']).name}"
    plotly_tag = (
        "<script>" + plotly_js.replace("</script", "<\\/script") + "</script>"
        if plotly_js else "<script>window.Plotly = undefined;</script>"
    )
    yield (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{html.escape(title)}</h1><div id=\"dd-sub\"></div></header>\n"
        "<nav><a href=\"#overview\">Overview</a><a href=\"#plots\">Scores</a>"
        "<a href=\"#agreement\">Agreement</a><a href=\"#compare\">Comparisons</a>"
        "<a href=\"#top\">Top essays</a><a href=\"#browser\">Generations</a></nav>\n"
        "<main><p id=\"dd-loading\">Loading the embedded data…</p><div id=\"dd-app\"></div></main>\n"
        "<script type=\"application/octet-stream\" id=\"dd-data\">"
    )
    yield from _blob_chunks(payload)
    yield f"</script>\n{plotly_tag}\n<script>{PAGE_JS}</script>\n</body>\n</html>\n"


def write_report(
    data_root: Path | str,
    output: Path | str | None = None,
    *,
    view: CohortView | None = None,
    frames: Mapping[str, pd.DataFrame] | None = None,
    cohort: str | None = None,
) -> Path:
    """Write the report (default ``<data_root>/7_reporting/report.html``) and return its path."""
    from daydreaming_dagster.engine.store import atomic_write_text
    from daydreaming_dagster.results.writer import build_tables, report_path

    root = Path(data_root)
    view = view if view is not None else load_cohort_view(root, cohort)
    frames = frames if frames is not None else build_tables(view)
    path = Path(output) if output is not None else report_path(view.layout.folder)
    plotly = _plotly()
    payload = build_payload(view, frames, template=plotly[1] if plotly else None)
    # Streamed: at 100,000 generations the page as one string (plus its JSON, gzip and base64
    # copies) took 460 MB; written in pieces it needs none of them.
    atomic_write_text(path, _html_parts(payload, plotly[0] if plotly else None))
    return path
