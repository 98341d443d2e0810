"""The HTML report: self-contained, every generation in it, plots, and no network request.

The browser test runs Debian's ``chromium`` headless (skipped with the reason when it is absent),
with a proxy on a dead local port so that nothing could leave the machine anyway, and reads
Chromium's net log: no request may come from the page.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from daydreaming_dagster.cli import main
from daydreaming_dagster.results.html_report import GEN_FIELDS

ALL_IDS = {"D1", "D2", "D3", "D4", "E1", "E2", "E3", "E4", "V11", "V12", "V21", "V22", "V31", "V32", "V41", "V42"}
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--proxy-server=http://127.0.0.1:9",
    "--virtual-time-budget=5000",
]


def _payload(html: str) -> dict[str, Any]:
    blob = re.search(r'<script type="application/octet-stream" id="dd-data">([^<]*)</script>', html)
    assert blob is not None
    return json.loads(gzip.decompress(base64.b64decode(blob.group(1))))


@pytest.fixture
def report(cohort_root: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["report", "--data-root", str(cohort_root)]) == 0
    path = cohort_root / "7_reporting" / "report.html"
    assert str(path) in capsys.readouterr().out
    return path


def test_report_is_self_contained_and_embeds_every_generation(report: Path, cohort_root: Path) -> None:
    html = report.read_text(encoding="utf-8")
    # nothing is loaded from elsewhere: no src/href to another host, no stylesheet link
    assert not re.search(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=""", html, re.IGNORECASE)
    assert "Plotly" in html  # plotly.js itself is inlined
    payload = _payload(html)
    rows = [dict(zip(GEN_FIELDS, row, strict=False)) for row in payload["gens"]]
    assert {r["id"] for r in rows} == ALL_IDS
    assert len(payload["figures"]) >= 3
    strings = payload["strings"]
    by_id = {r["id"]: r for r in rows}
    v12 = by_id["V12"]
    # an evaluation prompt is stored as the text around its essay's parsed text
    assert isinstance(v12["prompt"], list)
    essay = rows[v12["parent"]]
    assert essay["id"] == "E1"
    rebuilt = strings[v12["prompt"][0]] + strings[essay["parsed"]] + strings[v12["prompt"][1]]
    assert rebuilt == (cohort_root / "gens" / "evaluation" / "V12" / "prompt.txt").read_text()
    assert strings[v12["parsed"]] == "9.0\n" and v12["score"] == 9.0 and json.loads(v12["meta"])["model_id"] == "m2"  # the text of metadata.json
    assert by_id["V42"]["error"].startswith("evaluation V42: parser 'in_last_line'")


def test_report_output_flag(cohort_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "r.html"
    assert main(["report", "--data-root", str(cohort_root), "--output", str(target)]) == 0
    assert target.is_file() and not (cohort_root / "7_reporting" / "report.html").exists()


def _chromium(url: str, *extra: str) -> str:
    browser = shutil.which("chromium")
    assert browser is not None
    done = subprocess.run([browser, *CHROMIUM_FLAGS, *extra, "--dump-dom", url],
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def _page_requests(net_log: Path) -> list[str]:
    """http(s) requests started by a page (Chromium's own background requests have no origin)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        url = str(params.get("url", ""))
        if event["type"] == start and url.startswith("http") and params.get("initiator") != "not an origin":
            urls.append(url)
    return urls


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="headless Chromium is not installed (Debian: apt-get install chromium)")
def test_report_renders_in_a_real_browser_without_network(report: Path, tmp_path: Path) -> None:
    net_log = tmp_path / "net.json"
    dom = _chromium(report.as_uri() + "?rows=all", f"--log-net-log={net_log}")
    assert 'data-ready="1"' in dom, dom[:2000]
    rendered = set(re.findall(r'<tr data-i="\d+" data-gen-id="([^"]+)"', dom))
    assert rendered == ALL_IDS
    plots = re.findall(r'<div class="plot js-plotly-plot" id="plot-([a-z_]+)"', dom)
    assert len(plots) >= 3 and {"by_draft_template", "by_essay_template", "by_generation_model",
                                "by_evaluation_template", "by_evaluator"} & set(plots)
    assert dom.count('class="main-svg"') >= 3  # plotly drew them
    assert _page_requests(net_log) == []
    # the same check does see a page's request (so an empty list above means something)
    control = tmp_path / "control.html"
    control.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
    control_log = tmp_path / "control.json"
    _chromium(control.as_uri(), f"--log-net-log={control_log}")
    assert _page_requests(control_log) == ["http://example.invalid/x.png"]


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="headless Chromium is not installed (Debian: apt-get install chromium)")
def test_report_default_page_is_paginated_and_links_open_a_generation(report: Path) -> None:
    dom = _chromium(report.as_uri() + "#g=" + "evaluation%2FV42")
    assert 'data-ready="1"' in dom
    assert "<h2>evaluation <code>V42</code></h2>" in dom  # the detail of the linked generation
    assert "› essay <a href=\"#g=essay%2FE4\">E4</a>" in dom  # lineage links
    assert "Average at best." in dom  # its raw text
    assert '"gen_id": "V42"' in dom.replace("&quot;", '"')  # its metadata.json, parsed and indented


def test_report_carries_agreement_comparisons_success_and_full_names(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "text-overflow:ellipsis" not in html  # names wrap, they are never cut
    payload = _payload(html)
    by_rubric = dict(zip(payload["agreement"]["by_rubric"]["columns"], payload["agreement"]["by_rubric"]["rows"][0],
                         strict=True))
    assert (by_rubric["evaluation_template"], by_rubric["graders"], by_rubric["essays"]) == ("t1", 2, 3)
    comparisons = payload["comparisons"]
    factors = [row[comparisons["columns"].index("factor")] for row in comparisons["rows"]]
    assert factors == ["draft_template", "evaluation_model"]
    sections = {f["id"]: f["section"] for f in payload["figures"]}
    assert sections["compare_draft_template"] == "compare" and sections["agreement"] == "agreement"
    assert payload["success"]["thresholds"] is False  # no threshold declared in the fixture
    top = payload["top_essays"]
    assert top["rows"][0][top["columns"].index("rank_label")] == "1" and "rank_label" in top["columns"]
    means = [dict(zip(payload["grouped_means"]["columns"], r, strict=True)) for r in payload["grouped_means"]["rows"]]
    overall = next(r for r in means if r["group"] == "overall_statistics")
    assert (overall["n_essays"], overall["evaluations"]) == (4, 7)  # n counts essays, not evaluations


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="headless Chromium is not installed (Debian: apt-get install chromium)")
def test_report_sections_render_with_a_success_threshold(cohort_root: Path) -> None:
    (cohort_root / "1_raw" / "evaluation_templates.csv").write_text(
        "template_id,template_name,description,active,parser,score_min,score_max,success_threshold\n"
        "t1,T1,grade,true,in_last_line,0,10,8\n")
    assert main(["report", "--data-root", str(cohort_root)]) == 0
    dom = _chromium((cohort_root / "7_reporting" / "report.html").as_uri())
    assert 'data-ready="1"' in dom
    overview = dom[dom.index('id="overview"'):dom.index('id="plots"')]
    # the overview leads with the success rate (E1 and E3 reach 8 on average: 2 of 4) and its cost
    assert "success rate: 2 of 4 essays" in overview and "cost per successful essay" in overview
    # two pairs (-4 and -5): the t-interval and the p-value (0.0704; Holm over 2 comparisons: 0.141)
    # agree that there is no detectable difference
    for section in ('id="agreement"', 'id="compare"', "alpha [95% interval]", "B - A [95% interval]",
                    "no detectable difference: d2 - d1 = -4.50 [-10.85, 1.85] on 2 pairs (same combination); "
                    "Holm-adjusted p = 0.141 over 2 comparisons", "p_holm"):
        assert section in dom, section
    assert re.search(r'id="plot-compare_draft_template"', dom) and dom.count('class="main-svg"') >= 6
    # the sentence is above its plot (it was the plot's title, cut off), the title is short
    caption = dom.index("no detectable difference: d2 - d1")
    assert caption < dom.index('id="plot-compare_draft_template"') < caption + 400
    assert "draft_template: B − A per combination" in dom
    # the overview's mean: n in essays and its interval, not the count of evaluations
    assert re.search(r"mean score \(95% interval\) over 4 essays, 7 evaluations", overview)
    assert "$0.0160" in overview  # the cost with significant digits
    # cost per point: 0.004 per essay / mean essay score 7.0 = 0.000571 (4 decimals showed 0.0006)
    assert "$0.000571" in overview and ">0.000571<" in overview and "0.0006<" not in overview
    assert "mean_score [95% interval]" in overview


def test_a_factor_with_three_levels_gets_one_difference_plot_with_a_row_per_pair() -> None:
    """Every pair of levels is plotted (the plot was limited to factors with two levels), its
    sentence above the plot; above DIFFERENCE_POINTS_SHOWN pairs the box carries its statistics only."""
    import numpy as np

    from daydreaming_dagster.results import compare, html_report
    from tests.results.synthetic import score_frame

    rng = np.random.default_rng(5)
    rows = [{"essay": f"E{t}{c}", "combo": f"c{c}", "draft_template": t, "score": 5 + shift + rng.normal(0, 1)}
            for c in range(12) for t, shift in (("x", 0.0), ("y", 1.0), ("z", 2.0))]
    table = compare.comparisons(score_frame(rows))
    (figure,) = html_report._difference_figures(compare.plotted_comparisons(score_frame(rows), table))
    assert figure["id"] == "compare_draft_template" and figure["caption"] == list(table["sentence"])
    boxes = [t for t in figure["figure"]["data"] if t["type"] == "box"]
    assert [b["name"] for b in boxes] == ["y − x", "z − x", "z − y"] and all(len(b["x"]) == 12 for b in boxes)
    assert "per combination" in figure["figure"]["layout"]["title"]["text"]
    assert len(figure["figure"]["layout"]["title"]["text"]) < 60  # short: the sentences are above it
    many = html_report._box([float(v) for v in range(5001)], "b − a", [], "essay")
    assert "x" not in many and (many["q1"], many["median"], many["q3"]) == ([1250.0], [2500.0], [3750.0])
