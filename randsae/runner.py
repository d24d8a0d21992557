"""The one script adapter: run a stage function under its rule's log and thread count."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from randsae.secrets import redact

log = logging.getLogger("randsae")

OFFLINE_ENV = {"WANDB_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false"}


class RedactingWriter(io.TextIOBase):
    """A text stream that scrubs secret values (randsae.secrets) before writing to ``raw``."""

    def __init__(self, raw: Any):
        self.raw = raw

    def write(self, s: str) -> int:
        self.raw.write(redact(s))
        return len(s)

    def flush(self) -> None:
        self.raw.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:  # for code that needs a real descriptor (writes there bypass this)
        return self.raw.fileno()

    @property
    def encoding(self) -> str:
        return self.raw.encoding

    @property
    def buffer(self) -> Any:
        return self.raw.buffer


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


@contextlib.contextmanager
def logged(log_path: str | Path | None) -> Iterator[None]:
    """Send logging, stdout and stderr of a stage to its Snakemake log file (secrets scrubbed).

    Warnings of the ``randsae`` logger also go to the console (the job's original stderr), so that
    a run with failures says so where the user is looking.
    """
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    console = sys.stderr
    with open(log_path, "w") as raw:
        fh = RedactingWriter(raw)
        with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
            handler = logging.StreamHandler(fh)
            handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(message)s"))
            warn = logging.StreamHandler(console)
            warn.setLevel(logging.WARNING)
            warn.setFormatter(RedactingFormatter("randsae %(levelname)s: %(message)s"))
            root = logging.getLogger()
            root.addHandler(handler)
            log.addHandler(warn)
            root.setLevel(logging.INFO)
            try:
                yield
            finally:
                root.removeHandler(handler)
                log.removeHandler(warn)
                fh.flush()


#: Thread-count variables of the BLAS/OpenMP runtimes, read when they load (torch's included).
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def set_threads(threads: int) -> None:
    """Give the job ``threads`` compute threads without importing torch.

    The variables are read by torch's OpenMP runtime when torch loads, so a stage that imports
    torch later gets this count; one that already did is set directly. Rules that never touch
    torch (tables, figures, scoring) thus skip its import, about 2.4 s per job on a CPU.
    """
    n = max(1, int(threads))
    for var in THREAD_ENV:
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


def run(fn: Callable[..., Any], smk: Any, **kwargs: Any) -> Any:
    """Adapter helper: run ``fn`` under the rule's log with the rule's thread count."""
    with logged(smk.log[0] if len(smk.log) else None):
        set_threads(smk.threads)
        log.info("rule %s wildcards %s", smk.rule, dict(smk.wildcards.items()))
        try:
            return fn(**kwargs)
        except Exception as exc:  # the traceback reaches the console: scrub its message too
            exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
            raise
