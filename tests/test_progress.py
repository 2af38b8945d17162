"""The console progress bar: drawn only on a terminal (or when forced), never into pipes and logs."""

import io

from core._progress import ProgressBar, progress_enabled


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_draws_on_a_terminal_with_counts_and_fields():
    stream = _Tty()
    with ProgressBar(5, desc="epochs", stream=stream) as bar:
        for _ in range(5):
            bar.update(1, loss=0.123456)
    text = stream.getvalue()
    assert "epochs" in text and "5/5" in text and "loss=0.1235" in text and text.endswith("\n")


def test_silent_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv("CORE_PROGRESS", raising=False)
    stream = io.StringIO()
    with ProgressBar(3, stream=stream) as bar:
        bar.update(3)
    assert stream.getvalue() == ""


def test_environment_forces_it_on_or_off(monkeypatch):
    monkeypatch.setenv("CORE_PROGRESS", "1")
    assert progress_enabled(io.StringIO())
    monkeypatch.setenv("CORE_PROGRESS", "0")
    assert not progress_enabled(_Tty())
