"""Progress and experiment tracking for SAE training (``sae.tracking``).

* :func:`progress_bar`: the shared progress bar (:mod:`randsae.progress`) over training tokens
  (tokens/s, FVU, L0, dead fraction, ETA): live on a terminal, whole log lines in a rule's log.
* :func:`make_tracker`: the training curve (fvu, l0, dead fraction, lr, loss) per optimizer step
  to ``none``, TensorBoard event files (``torch.utils.tensorboard``, one run directory per SAE) or
  Weights & Biases (one run per training job, metrics prefixed by the SAE's key). W&B follows
  ``WANDB_MODE``: the workflow sets it to ``disabled`` unless the environment sets it, so export
  ``WANDB_MODE=online`` (or ``offline``) to record; a disabled mode is logged as a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("randsae")

TRACKING = ("none", "tensorboard", "wandb")
METRICS = ("fvu", "l0", "dead_frac", "lr", "loss")
LOG_INTERVAL_S = 30.0


def check_tracking(kind: str) -> str:
    if kind not in TRACKING:
        raise ValueError(f"sae.tracking must be one of {'|'.join(TRACKING)}, got {kind!r}")
    return kind


def key_name(key: Any) -> str:
    """``layer3`` for an integer layer key, else ``str(key)``."""
    return f"layer{key}" if isinstance(key, int) else str(key)


def progress_bar(total_tokens: int, initial_tokens: int = 0, desc: str = "train SAE"):
    """A token-counting bar (:func:`randsae.progress.progress`); ``bar.update(batch_tokens)``."""
    from randsae.progress import progress

    kw = {"unit": "tok", "unit_scale": True, "log_interval": LOG_INTERVAL_S}
    return progress(total=total_tokens, initial=initial_tokens, desc=desc, **kw)


def postfix(rows: Mapping[Any, Mapping[str, float]]) -> dict[str, str]:
    """Bar postfix from the latest log row of each SAE: mean FVU and L0, worst dead fraction."""
    vals = list(rows.values())
    n = max(1, len(vals))
    return {
        "fvu": f"{sum(r['fvu'] for r in vals) / n:.4f}",
        "l0": f"{sum(r['l0'] for r in vals) / n:.1f}",
        "dead": f"{max((r['dead_frac'] for r in vals), default=0.0):.3f}",
    }


class Tracker:
    """No tracking (``sae.tracking: none``); the interface of the others."""

    kind = "none"

    def log_step(self, step: int, rows: Mapping[Any, Mapping[str, float]]) -> None:
        """Record the log row of every SAE at optimizer step ``step``."""

    def close(self) -> None:
        pass


class TensorBoardTracker(Tracker):
    """One event-file directory per SAE (``<root>/<key_name>``), scalars ``train/<metric>``."""

    kind = "tensorboard"

    def __init__(self, root: str | Path, keys: list[Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.root = Path(root)
        self.writers = {k: SummaryWriter(log_dir=str(self.root / key_name(k))) for k in keys}

    def log_step(self, step: int, rows: Mapping[Any, Mapping[str, float]]) -> None:
        for key, row in rows.items():
            w = self.writers[key]
            for m in METRICS:
                w.add_scalar(f"train/{m}", float(row[m]), step)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


class WandbTracker(Tracker):
    """One W&B run per training job; metrics ``<key>/<metric>`` at ``step``."""

    kind = "wandb"

    def __init__(self, root: str | Path, name: str, config: Mapping[str, Any]) -> None:
        import wandb

        mode = os.environ.get("WANDB_MODE")
        if mode == "disabled":
            log.warning(
                "sae.tracking: wandb, but WANDB_MODE=disabled: nothing is recorded "
                "(export WANDB_MODE=online or offline)"
            )
        Path(root).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "randsae"),
            name=name,
            dir=str(root),
            config=dict(config),
            reinit="create_new",
        )

    def log_step(self, step: int, rows: Mapping[Any, Mapping[str, float]]) -> None:
        self.run.log(
            {f"{key_name(key)}/{m}": float(row[m]) for key, row in rows.items() for m in METRICS},
            step=step,
        )

    def close(self) -> None:
        self.run.finish()


def make_tracker(
    kind: str,
    root: str | Path | None,
    keys: list[Any],
    *,
    name: str = "sae",
    config: Mapping[str, Any] | None = None,
) -> Tracker:
    """The tracker for ``sae.tracking``; ``root`` is where its files go (needed unless none)."""
    check_tracking(kind)
    if kind == "none":
        return Tracker()
    if root is None:
        raise ValueError(f"sae.tracking: {kind} needs a tracking directory")
    if kind == "tensorboard":
        return TensorBoardTracker(root, keys)
    return WandbTracker(root, name, config or {})
