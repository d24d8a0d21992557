"""randsae.progress: whole log lines (count, rate, ETA) under a rule's log, a live bar on a TTY.

Run: ``pytest tests/test_progress.py``.
"""

from __future__ import annotations

import io
import logging
import sys

from randsae import progress as prog
from randsae.runner import logged


def test_progress_writes_log_lines_under_a_rule_log(tmp_path):
    log_path = tmp_path / "rule.log"
    with logged(log_path):
        assert list(prog.progress(range(5), desc="eval layer 1", unit="batch")) == list(range(5))
        bar = prog.progress(total=100, desc="activations", unit="tok", log_interval=0.0)
        for _ in range(4):
            bar.update(25)
        bar.close()
    lines = [ln for ln in log_path.read_text().splitlines() if "randsae" not in ln or "%" in ln]
    text = "\n".join(lines)
    assert "\r" not in log_path.read_text()
    assert "eval layer 1: 100%" in text and "5/5" in text
    final = [ln for ln in lines if "activations: 100%" in ln]
    assert final and "100/100" in final[-1] and "tok/s" in final[-1]
    assert all(" INFO " in ln for ln in lines if "activations:" in ln)


def test_progress_is_a_live_bar_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    bar = prog.progress(total=3, desc="x")
    assert not isinstance(bar.fp, prog._LogLines)
    bar.update(3)
    bar.close()
    assert "\r" in tty.getvalue() and "3/3" in tty.getvalue()


def test_disabled_progress_writes_nothing(caplog):
    with caplog.at_level(logging.INFO, logger="randsae.progress"):
        assert sum(prog.progress(range(3), disable=True)) == 3
    assert caplog.records == []
