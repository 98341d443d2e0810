"""Every result table and the report, with their intervals, at 10,000 and 100,000 evaluations.

Builds the synthetic cohort of ``bench/report_scale.py`` on disk (drafts ~2.5 kB, essays ~4 kB with
half copies, 2 rubrics x 2 graders per essay, evaluations ~1.5 kB), declares both rubrics' scale
(0-10) and a success threshold (7) so that the success tables have work to do, then measures in a
**child process** (so that its peak RSS is that of one size alone):

- loading the cohort view, each table of ``build_tables`` (their intervals included: t-intervals,
  Wilson intervals, alpha's bootstrap),
  writing the CSVs, and the HTML report (wall seconds each);
- the child's peak RSS (``wait4``) and the report's size;
- how long the report takes to be ready in headless Chromium, when ``chromium`` is installed: the
  wall time from ``Page.navigate`` (DevTools protocol) to the page's ready flag (data inflated,
  overview, tables and plots drawn), and the page's own ``performance.now()`` at that moment.

    .venv/bin/python -m bench.results_scale                      # 10,000 and 100,000 evaluations
    .venv/bin/python -m bench.results_scale --evaluations 2000 --keep /tmp/cohort
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.report_scale import EVALUATION, build_cohort

THRESHOLD = 7
CONCEPTS = 24  # 2,024 combinations of 3: enough for 100,000 evaluations (1,250 combinations)


def declare_scales(root: Path) -> None:
    """evaluation_templates.csv with upstream's 0-10 and a success threshold for both rubrics."""
    lines = ["template_id,template_name,description,active,parser,score_min,score_max,success_threshold"]
    lines += [f"{t},{t},bench,true,{parser},0,10,{THRESHOLD}" for t, parser in EVALUATION]
    (root / "1_raw" / "evaluation_templates.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure(root: Path) -> dict[str, Any]:
    """In the child: every table with its timing, the CSVs, the report (what write_all_results does)."""
    from daydreaming_dagster.results.html_report import write_report
    from daydreaming_dagster.results.lineage import load_cohort_view
    from daydreaming_dagster.results.scores import write_csv
    from daydreaming_dagster.results.writer import build_tables, table_path

    started = time.perf_counter()
    view = load_cohort_view(root)
    load_s = time.perf_counter() - started
    timings: dict[str, float] = {}
    frames = build_tables(view, timings)
    t0 = time.perf_counter()
    for name, frame in frames.items():
        write_csv(table_path(root, name), frame)
    csv_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = write_report(root, view=view, frames=frames)
    report_s = time.perf_counter() - t0
    return {
        "load_view_s": round(load_s, 2), "tables_s": round(sum(timings.values()), 2), "write_csv_s": round(csv_s, 2),
        "report_s": round(report_s, 2), "total_s": round(time.perf_counter() - started, 2),
        "report_mb": round(report.stat().st_size / 1e6, 1),
        "table_s": {k: round(v, 3) for k, v in timings.items()},
    }


READY = "document.body && document.body.dataset.ready === '1' ? Number(document.body.dataset.readyMs) : null"


async def _navigate_until_ready(page_ws: str, url: str, timeout_s: float) -> tuple[float, int]:
    import websockets  # installed with the webserver's dependencies; only this benchmark uses it

    async with websockets.connect(page_ws, max_size=None) as ws:
        sequence = 0

        async def call(method: str, **params: Any) -> dict[str, Any]:
            nonlocal sequence
            sequence += 1
            await ws.send(json.dumps({"id": sequence, "method": method, "params": params}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == sequence:
                    return dict(message)

        started = time.perf_counter()
        await call("Page.navigate", url=url)
        while time.perf_counter() - started < timeout_s:
            reply = await call("Runtime.evaluate", expression=READY, returnByValue=True)
            value = reply.get("result", {}).get("result", {}).get("value")
            if value is not None:
                return time.perf_counter() - started, int(value)
            await asyncio.sleep(0.05)
    raise TimeoutError(f"the page was not ready after {timeout_s} s")


def page_ready(report: Path, timeout_s: float = 300) -> dict[str, Any]:
    """Seconds from navigation to the page's ready flag in headless Chromium (real time, no virtual
    time budget), and the page's own milliseconds; empty when Chromium is not installed."""
    browser = shutil.which("chromium")
    if browser is None:
        return {}
    profile = Path(tempfile.mkdtemp(prefix="dd-chromium-"))
    proc = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--proxy-server=http://127.0.0.1:9", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        port = None
        for line in proc.stderr:
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                port = int(found.group(1))
                break
        if port is None:
            raise RuntimeError("chromium did not open its DevTools port")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
        targets = json.loads(opener.open(f"http://127.0.0.1:{port}/json/list").read())
        page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        wall_s, page_ms = asyncio.run(_navigate_until_ready(page_ws, report.as_uri(), timeout_s))
        return {"page_ready_s": round(wall_s, 2), "page_ready_ms_in_page": page_ms}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _child(root: Path) -> tuple[dict[str, Any], float]:
    """``measure`` in a child process: its result and its peak RSS in MB."""
    out = root.parent / "measure.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench.results_scale", "--measure", str(root), "--out", str(out)])
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"the measuring child failed (status {status})")
    return json.loads(out.read_text()), usage.ru_maxrss / 1024  # Linux: kB


def bench(evaluations: int, keep: Path | None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dd-results-"))
    root = keep or work / "data"
    if root.exists():
        shutil.rmtree(root)
    try:
        t0 = time.perf_counter()
        counts = build_cohort(root, evaluations, concepts=CONCEPTS)
        if counts["evaluations"] != evaluations:
            raise ValueError(f"asked for {evaluations:,} evaluations, the synthetic cohort has {counts['evaluations']:,}")
        declare_scales(root)
        built = time.perf_counter() - t0
        load = os.getloadavg()[0]
        result, peak_mb = _child(root)
        ready = page_ready(root / "7_reporting" / "report.html")
        return {**counts, "build_s": round(built, 1), **{k: v for k, v in result.items() if k != "table_s"},
                "peak_rss_mb": round(peak_mb), **ready,
                "load_before": round(load, 1), "load_after": round(os.getloadavg()[0], 1),
                "table_s": result["table_s"]}
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", type=Path, default=None, help="build the (last) cohort here and keep it")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)  # the child's mode
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        args.out.write_text(json.dumps(measure(args.measure)))
        return
    results = [bench(n, args.keep) for n in args.evaluations]
    columns = [c for c in results[0] if c != "table_s"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in results:
        print("| " + " | ".join(str(r[c]) for c in columns) + " |")
    print("\nseconds per table:")
    names = list(results[0]["table_s"])
    print("| table | " + " | ".join(f"{r['evaluations']:,}" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for name in names:
        print(f"| {name} | " + " | ".join(str(r["table_s"].get(name)) for r in results) + " |")
    results_dir = Path(__file__).resolve().parent / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "results_scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
