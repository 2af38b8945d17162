"""A logger scoped to one run, also written to `logs/run.log` in its folder."""

from __future__ import annotations

import logging
from pathlib import Path

from core._layout import RunLayout
from core._redact import ScrubFilter

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: libraries whose own log records (warnings and errors, tracebacks and all) belong in the run's log,
#: not on the console of the `core` command (`core.cli`)
LIBRARY_LOGGERS = ("mlflow", "alembic", "sqlalchemy")
#: a record with this attribute False is written to the run's log but not to the `core` command's console
CONSOLE_ATTR = "mlcore_console"


def open_run_logger(run_id: str, run_dir: Path) -> tuple[logging.Logger, logging.Handler]:
    """A child of the `mlcore` logger (so the CLI's console handler sees it) plus its file handler."""
    path = RunLayout(run_dir).log
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _RunLogHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(logging.DEBUG)
    handler.addFilter(ScrubFilter())  # URIs in errors must not carry their credentials into the log
    logger = logging.getLogger(f"mlcore.run.{run_id}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    for name in LIBRARY_LOGGERS:  # what MLflow says about this run's tracking is kept with it
        logging.getLogger(name).addHandler(handler)
    return logger, handler


class _RunLogHandler(logging.FileHandler):
    """`logs/run.log`. A line it cannot write (a full disk) is dropped: logging's default prints a
    traceback on stderr for every such line; the console handler still shows what matters."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def close_run_logger(logger: logging.Logger, handler: logging.Handler) -> None:
    logger.removeHandler(handler)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).removeHandler(handler)
    handler.close()
    # Loggers live for the whole process in logging's registry; drop this one so
    # a long sweep does not accumulate one logger per run.
    logging.Logger.manager.loggerDict.pop(logger.name, None)
