"""The artifact root's and a run folder's layout, in one place.

Everything that reads or writes core's own files in a run folder (the summary, the error
file, the journal, the log, the report) takes its path from here; plugins never do (they
use `context.artifact_dir` and `context.run_file`).

    <artifact root>/
      runs/<run id>/            one folder per run (`RunLayout`)
        summary/run_summary.json
        errors/exception.txt    only when the plugin failed
        tracking/journal.jsonl  every tracking call, written before it is sent
        tracking/state.json     how far tracking acknowledged, and where it tracks to
        tracking/run.lock       held by the one process working on the run (`core._runlock`)
        tracking/reserve        disk space set aside while the run runs, for its ending (`journal`)
        logs/run.log
        reports/report.html
        inputs/<run id>/...     earlier runs' files fetched from tracking (`context.run_file`)
        inputs/models/<name>-v<version>/...  registered MLflow Models fetched (`context.model`)
        inputs/<mlflow run id>/model/...     a `runs:/` MLflow Model fetched (`context.model`)
      sweeps/<sweep id>/        one folder per sweep (`core._sweep.store`)
      mlflow/                   the embedded MLflow store (`core._tracking`)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RUNS_DIR = "runs"
SWEEPS_DIR = "sweeps"

SUMMARY_PATH = Path("summary") / "run_summary.json"
EXCEPTION_PATH = Path("errors") / "exception.txt"
JOURNAL_DIR = Path("tracking")
JOURNAL_FILE = "journal.jsonl"
STATE_FILE = "state.json"
LOCK_FILE = "run.lock"
RESERVE_FILE = "reserve"
LOG_PATH = Path("logs") / "run.log"
REPORT_PATH = Path("reports") / "report.html"
INPUTS_DIR = Path("inputs")
MODELS_DIR = "models"


def runs_dir(root: Path) -> Path:
    """Where the run folders of an artifact root live."""
    return Path(root) / RUNS_DIR


def sweeps_dir(root: Path) -> Path:
    """Where the sweep folders of an artifact root live."""
    return Path(root) / SWEEPS_DIR


@dataclass(frozen=True, slots=True)
class RunLayout:
    """The paths of core's own files in one run folder."""

    dir: Path

    @classmethod
    def of(cls, root: Path, run_id: str) -> RunLayout:
        """The layout of run `run_id` in artifact root `root` (the folder need not exist)."""
        return cls(runs_dir(root) / run_id)

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def root(self) -> Path:
        """The artifact root this run folder belongs to."""
        return self.dir.parent.parent

    @property
    def summary(self) -> Path:
        return self.dir / SUMMARY_PATH

    @property
    def exception(self) -> Path:
        return self.dir / EXCEPTION_PATH

    @property
    def journal_dir(self) -> Path:
        return self.dir / JOURNAL_DIR

    @property
    def journal(self) -> Path:
        return self.journal_dir / JOURNAL_FILE

    @property
    def tracking_state(self) -> Path:
        return self.journal_dir / STATE_FILE

    @property
    def lock(self) -> Path:
        return self.journal_dir / LOCK_FILE

    @property
    def reserve(self) -> Path:
        return self.journal_dir / RESERVE_FILE

    @property
    def log(self) -> Path:
        return self.dir / LOG_PATH

    @property
    def report(self) -> Path:
        return self.dir / REPORT_PATH

    def fetched(self, run_id: str) -> Path:
        """Where files of earlier run `run_id`, fetched from tracking, are kept."""
        return self.dir / INPUTS_DIR / run_id

    def fetched_model(self, name: str, *, registered: bool = True) -> Path:
        """Where an MLflow Model fetched for this run is kept: a registered version's (`name` is
        `<model>-v<version>`) under `inputs/models/`, a run's (`name` is its MLflow run id) beside
        earlier runs' files."""
        return self.dir / INPUTS_DIR / MODELS_DIR / name if registered else self.dir / INPUTS_DIR / name
