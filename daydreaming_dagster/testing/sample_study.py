"""The sample study of docs/experiments.md: a data root, and the fake server its runs pay.

    eval "$(python -m daydreaming_dagster.testing.sample_study my_study)"

writes ``my_study/`` (unless it already has a ``1_raw``) and starts the project's fake
OpenAI-compatible server in the background (canned answers, billed at 3/15 USD per million
tokens, as a priced remote model would be). It prints the shell lines that point ``daydream`` at
the server (``export DD_LLM_BASE_URL=...``) and keep its process id (``FAKE_SERVER_PID=...``: stop
it with ``kill $FAKE_SERVER_PID``); what it did goes to stderr. ``--no-server``: only the data root.

The data root (``write_sample_study``): 9 concepts ``concept-00`` … ``concept-08`` (paragraph
descriptions), the draft template ``test-draft``, the essay templates ``test-essay`` (llm) and
``test-copy`` (copy), the rubrics ``test-eval`` and ``originality`` (both ``in_last_line``, 0 to 9),
one model ``mock-model`` for every stage, served by ``DD_LLM_BASE_URL``; ``experiment.toml``:
``k_max = 2``, max_tokens 256/256/64.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

from daydreaming_dagster.testing.sample_data import MODEL_ID, write_wide_data_root

CONCEPTS = 9
# USD per token (3 and 15 USD per million tokens), as the fake server bills and lists them.
PRICES: dict[str, tuple[float, float]] = {MODEL_ID: (3e-6, 15e-6)}
RUBRIC_ID = "originality"
RUBRIC = (
    "How original is this essay? Rate it from 0 to 9.\n{{ response }}\n"
    "End with a line SCORE: <digit>.\n"
)
EXPERIMENT = (
    "k_max = 2\n"
    "min_draft_lines = 1\n"
    "draft_generation_max_tokens = 256\n"
    "essay_generation_max_tokens = 256\n"
    "evaluation_max_tokens = 64\n"
)


def write_sample_study(root: Path) -> Path:
    """Write the sample study's inputs under ``root`` (see the module docstring) and return it."""
    write_wide_data_root(root, concepts=CONCEPTS, k_max=2, provider="openrouter")
    raw = root / "1_raw"
    with open(raw / "evaluation_templates.csv", "a", encoding="utf-8") as fh:
        # Not active: the default cohort keeps one rubric; a spec names it when it wants it.
        fh.write(f"{RUBRIC_ID},Originality,How original the essay is (0-9),false,in_last_line\n")
    (raw / "evaluation_templates" / f"{RUBRIC_ID}.txt").write_text(RUBRIC, encoding="utf-8")
    (root / "experiment.toml").write_text(EXPERIMENT, encoding="utf-8")
    return root


def start_fake_server() -> tuple[str, int]:
    """Start the fake server as a process of its own session (it outlives this one); its base URL and pid."""
    prices = json.dumps({model: list(p) for model, p in PRICES.items()})
    process = subprocess.Popen(
        [sys.executable, "-m", "daydreaming_dagster.testing.fake_openai_server", "--port", "0", "--models-json", prices],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    process.stdout.close()
    if not url.startswith("http"):
        process.kill()
        raise RuntimeError("the fake server did not start")
    process.returncode = 0  # it runs on by design: no "still running" warning when this object goes
    return url, process.pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m daydreaming_dagster.testing.sample_study",
        description="Write the sample study of docs/experiments.md and start a fake OpenAI-compatible "
        "server for it; prints shell lines to eval (DD_LLM_BASE_URL, FAKE_SERVER_PID).",
    )
    parser.add_argument("data_root", type=Path, help="the study's data root (written unless it has a 1_raw)")
    parser.add_argument("--no-server", action="store_true", help="only write the data root")
    args = parser.parse_args(argv)
    root: Path = args.data_root
    if (root / "1_raw").exists():
        print(f"{root}/1_raw exists: its inputs are kept as they are.", file=sys.stderr)
    else:
        write_sample_study(root)
        print(
            f"Wrote the sample study {root}: {CONCEPTS} concepts, templates test-draft, test-essay, "
            f"rubrics test-eval and {RUBRIC_ID}, model {MODEL_ID}.",
            file=sys.stderr,
        )
    if args.no_server:
        return 0
    url, pid = start_fake_server()
    print(f"export DD_LLM_BASE_URL={shlex.quote(url)}")
    print(f"FAKE_SERVER_PID={pid}")
    print(
        f"Fake OpenAI-compatible server at {url} (pid {pid}), billing 3/15 USD per million tokens; "
        "stop it with: kill $FAKE_SERVER_PID",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
