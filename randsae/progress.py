"""The one progress helper: a live tqdm bar on a terminal, periodic lines in a rule's log.

Usage::

    from randsae.progress import progress

    for batch in progress(batches, total=n, desc="eval", unit="seq"):
        ...
    bar = progress(total=n_tokens, desc="activations", unit="tok")  # manual: bar.update(n)

When stderr is a terminal the bar redraws in place. Under a Snakemake rule (stderr is the rule's
log file, see :mod:`randsae.runner`) carriage-return redraws would garble the log, so the bar is
written as whole log lines through the ``randsae.progress`` logger, at most one every
``log_interval`` seconds plus a final line; each line carries count, rate and ETA.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
log = logging.getLogger("randsae.progress")

LOG_INTERVAL_S = 30.0


class _LogLines:
    """A file-like target for tqdm that turns each redraw into one log record."""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            log.info("%s", line)

    def flush(self) -> None:
        pass


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    log_interval: float = LOG_INTERVAL_S,
    initial: int = 0,
    unit_scale: bool = False,
) -> tqdm:
    """A tqdm bar over ``iterable`` (or a manual one with ``total``) that suits the output."""
    kw: dict[str, Any] = {"unit_scale": unit_scale, "disable": disable, "dynamic_ncols": True}
    if not _is_terminal(sys.stderr):
        kw.update(file=_LogLines(), mininterval=log_interval, maxinterval=max(log_interval, 60.0))
        kw.update(dynamic_ncols=False, ncols=100, ascii=True)
    return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit, **kw)
