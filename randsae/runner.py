"""The one script adapter: run a stage function under its rule's log and thread count."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("randsae")

OFFLINE_ENV = {"WANDB_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false"}


@contextlib.contextmanager
def logged(log_path: str | Path | None) -> Iterator[None]:
    """Send logging, stdout and stderr of a stage to its Snakemake log file."""
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
        finally:
            root.removeHandler(handler)


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))


def run(fn: Callable[..., Any], smk: Any, **kwargs: Any) -> Any:
    """Adapter helper: run ``fn`` under the rule's log with the rule's thread count."""
    with logged(smk.log[0] if len(smk.log) else None):
        set_threads(smk.threads)
        log.info("rule %s wildcards %s", smk.rule, dict(smk.wildcards.items()))
        return fn(**kwargs)


def run_light(fn: Callable[..., Any], smk: Any, **kwargs: Any) -> Any:
    """``run`` for cheap table/figure rules that never use torch: the same log handling, without
    importing torch to set its thread count (saves seconds per job on the default run)."""
    with logged(smk.log[0] if len(smk.log) else None):
        log.info("rule %s wildcards %s", smk.rule, dict(smk.wildcards.items()))
        return fn(**kwargs)
