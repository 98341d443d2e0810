"""Where a cohort's files live under the data root: the one home of those paths.

Many cohorts share one data root and its generations (``gens/``). The default cohort (made from
the ``active`` flags of ``1_raw``, upstream's seed-era layout) keeps its files where upstream kept
them: task tables in ``2_tasks/``, results in ``5_parsing/``, ``6_summary/`` and ``7_reporting/``.
A named cohort (a spec at ``cohorts/<name>/spec/config.yaml``) keeps everything of its own under
``cohorts/<name>/``: ``membership.csv`` (``stage,gen_id``: upstream's contract), ``manifest.json``,
``tasks/`` (its task tables) and its ``5_parsing/``, ``6_summary/``, ``7_reporting/``. Running one
cohort never writes another's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from daydreaming_dagster.core.errors import UnsafeIdError
from daydreaming_dagster.core.paths import require_safe_segment
from daydreaming_dagster.core.stages import TASKS_DIR

DEFAULT_COHORT = "default"  # the cohort made from the active flags, without a spec
COHORTS_DIR = "cohorts"
SPEC_DIR = "spec"
SPEC_NAMES = ("config.yaml", "config.yml", "config.json", "config.toml")
MEMBERSHIP_FILE = "membership.csv"
MANIFEST_FILE = "manifest.json"
COHORT_TASKS_DIR = "tasks"
PARSING_DIR, SUMMARY_DIR, REPORTING_DIR = "5_parsing", "6_summary", "7_reporting"


def cohort_name(name: str | None) -> str:
    """A cohort name as given on the command line (None: the default cohort), checked as a folder name."""
    if name is None or name == DEFAULT_COHORT:
        return DEFAULT_COHORT
    try:
        return require_safe_segment(name, what="cohort name")
    except UnsafeIdError as exc:
        raise UnsafeIdError(f"{exc} Fix: name the cohort folder cohorts/<name>/ with such characters.") from None


@dataclass(frozen=True)
class CohortLayout:
    """The paths of one cohort (``name``) under ``data_root``."""

    data_root: Path
    name: str = DEFAULT_COHORT

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_COHORT

    @property
    def folder(self) -> Path:
        """Where its results (and, for a named cohort, everything of its own) live."""
        return Path(self.data_root) if self.is_default else Path(self.data_root) / COHORTS_DIR / self.name

    @property
    def spec_dir(self) -> Path:
        return Path(self.data_root) / COHORTS_DIR / self.name / SPEC_DIR

    @property
    def spec_file(self) -> Path | None:
        """Its spec file (the first of ``config.yaml``, ``.yml``, ``.json``, ``.toml``), if any."""
        for name in SPEC_NAMES:
            path = self.spec_dir / name
            if path.is_file():
                return path
        return None

    @property
    def tasks_dir(self) -> Path:
        return Path(self.data_root) / TASKS_DIR if self.is_default else self.folder / COHORT_TASKS_DIR

    @property
    def membership(self) -> Path:
        return self.folder / MEMBERSHIP_FILE

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST_FILE

    def results(self, kind: str) -> Path:
        """``5_parsing``, ``6_summary`` or ``7_reporting`` of this cohort."""
        return self.folder / kind


def named_cohorts(data_root: Path) -> list[str]:
    """Names of the cohorts with a spec under ``cohorts/`` (sorted)."""
    root = Path(data_root) / COHORTS_DIR
    try:
        folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    return [name for name in folders if CohortLayout(Path(data_root), name).spec_file is not None]
