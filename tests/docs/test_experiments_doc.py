"""docs/experiments.md cannot rot: its shell blocks run as written, in one shell, and what it
quotes is what the commands print.

Every ```bash block of the guide runs, in order, in one bash process (in a temporary folder, with
``daydream`` and ``python`` being this checkout's). The setup step writes the sample study and
starts the fake server (``daydreaming_dagster.testing.sample_study``). Checked:

- every command succeeds (``set -e``; each ``daydream`` call's exit status is recorded);
- each ``#>`` line under a ``daydream`` command is in what that command printed, in one line
  (``…`` skips text); plain ``#`` lines (the compare output, whose format may change) are not;
- every amount the guide quotes (``$0.0743``) is one the commands printed;
- what each run says it paid (``LLM calls N``) is what the server answered, and the data root's
  total spend is what the server billed;
- ``pilot``'s files do not change after its run (scenario 2's claim).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daydreaming_dagster.testing.mock_llm import canned_compat_usage
from daydreaming_dagster.testing.sample_study import PRICES

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "experiments.md"
SKIP = " … "

# Each `daydream` call of the guide: output, exit status, the server's counters after it, and a
# digest of cohorts/pilot's files.
WRAPPER = r'''
set -euo pipefail
_dd_n=0
trap 'kill "${FAKE_SERVER_PID:-}" 2>/dev/null || true' EXIT
daydream() {
  _dd_n=$((_dd_n + 1))
  local out="$DD_DOC_LOG/$_dd_n" rc=0
  "$DD_DOC_PYTHON" -m daydreaming_dagster.cli "$@" >"$out.out" 2>&1 || rc=$?
  echo "$rc" >"$out.rc"
  echo "${FAKE_SERVER_PID:-}" >"$DD_DOC_LOG/pid"
  "$DD_DOC_PYTHON" -c 'import sys, urllib.request as u; print(u.urlopen(sys.argv[1] + "/_fake/stats").read().decode())' \
    "${DD_LLM_BASE_URL%/v1}" >"$out.stats"
  if [ -d my_study/cohorts/pilot ]; then
    (cd my_study/cohorts/pilot && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum) >"$out.pilot"
  fi
  cat "$out.out"
  return "$rc"
}
'''


@dataclass
class Call:
    """One ``daydream`` command of the guide and the ``#>`` lines quoted under it."""

    command: str
    quoted: list[str] = field(default_factory=list)


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def daydream_calls(blocks: list[str]) -> list[Call]:
    calls: list[Call] = []
    for block in blocks:
        for line in block.splitlines():
            if line.startswith("daydream "):
                calls.append(Call(line))
            elif line.startswith("#>"):
                assert calls, f"a '#>' line before any daydream command: {line}"
                calls[-1].quoted.append(line[2:].strip())
    return calls


def in_one_line(quoted: str, output: str) -> bool:
    """Each ``…``-separated part of ``quoted`` in one line of ``output``, in that order."""
    parts = [p.strip() for p in quoted.split(SKIP.strip())]
    for line in output.splitlines():
        at = 0
        for part in parts:
            found = line.find(part, at)
            if found < 0:
                break
            at = found + len(part)
        else:
            return True
    return False


def billed(stats: dict[str, Any]) -> float:
    """What the fake server billed: every completion at its prices (as it reports usage.cost)."""
    total = 0.0
    for model, prompt, count in stats["completions"]:
        usage = canned_compat_usage(prompt)
        prompt_price, completion_price = PRICES[model]
        total += count * ((usage.prompt_tokens or 0) * prompt_price + (usage.completion_tokens or 0) * completion_price)
    return total


def test_the_experiments_guide_runs_as_written_and_prints_what_it_quotes(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = shell_blocks(text)
    calls = daydream_calls(blocks)
    assert len(calls) >= 10 and any(c.quoted for c in calls)
    assert "sample_study my_study" in blocks[0], "the guide starts with its setup step"

    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    log.mkdir()
    python = bin_dir / "python"  # the guide's `python`: this interpreter, this checkout
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),
        "DD_DOC_PYTHON": sys.executable,
        "DD_DOC_LOG": str(log),
        "COLUMNS": "100",
    }
    script = WRAPPER + "\n".join(blocks)
    try:
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=240)
    finally:  # the server, should the script have died before its trap
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int((log / "pid").read_text().strip()), signal.SIGTERM)
    ran = len(list(log.glob("*.rc")))
    last = (log / f"{ran}.out").read_text() if ran else ""
    assert done.returncode == 0, (
        f"the guide stopped after {ran} daydream command(s) (exit {done.returncode}); last: "
        f"{calls[ran - 1].command if ran else '-'}\n{last}\nstderr: {done.stderr[-2000:]}"
    )
    assert ran == len(calls), f"{ran} daydream calls ran, the guide has {len(calls)}"

    outputs: list[str] = []
    paid_before = 0
    for n, call in enumerate(calls, 1):
        output = (log / f"{n}.out").read_text()
        outputs.append(output)
        assert (log / f"{n}.rc").read_text().strip() == "0", f"{call.command}\n{output}"
        for quoted in call.quoted:
            assert in_one_line(quoted, output), f"{call.command}\nquoted: {quoted}\nprinted:\n{output}"
        stats = json.loads((log / f"{n}.stats").read_text())
        paid = stats["completion_count"]
        said = re.search(r"^LLM calls (\d+) ", output, flags=re.M)
        if said:  # a run: what it says it paid is what the server answered during it
            assert int(said.group(1)) == paid - paid_before, f"{call.command}\n{output}"
            spend = re.search(r"data root total \$(\d+\.\d{4})", output)
            assert spend is not None and spend.group(1) == f"{billed(stats):.4f}", output
        else:
            assert paid == paid_before, f"{call.command} made {paid - paid_before} paid call(s)"
        assert not stats["duplicates"], "a call was paid twice"
        paid_before = paid

    printed = "\n".join(outputs)
    for amount in sorted(set(re.findall(r"\$\d+\.\d{4}", text))):
        assert amount in printed, f"the guide quotes {amount}, which no command printed"

    runs = [n for n, c in enumerate(calls, 1) if c.command.startswith("daydream run") and "--cohort pilot " in c.command + " "]
    assert len(runs) == 1
    digests = {(log / f"{n}.pilot").read_text() for n in range(runs[0], len(calls) + 1)}
    assert len(digests) == 1, "cohorts/pilot changed after its run"
