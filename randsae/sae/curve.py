"""The training curve and dead-latent counters of one SAE job, kept on its device.

A step records its loss, FVU, L0 and dead fraction as device tensors and updates the
dead-latent counters with device ops only (no boolean-mask indexing, no ``float()``), so it
never waits for the GPU. The rows are read back to the host in one transfer every
``metrics_every`` steps (``randsae.sae.levers``), when the curve is read (``log``), and before a
checkpoint: the curve holds the same numbers as if each step had been read at once.
"""

from __future__ import annotations

from typing import Any

import torch

LOG_COLUMNS = ("tokens", "step", "loss", "fvu", "l0", "dead_frac", "lr")


def fired_latents(vals: torch.Tensor, idx: torch.Tensor, d_sae: int) -> torch.Tensor:
    """``(d_sae,)`` bool: latents with a positive value among the selections ``(N, k)``.

    Inactive selections are pointed at an extra slot that is dropped; every write stores
    ``True``, so duplicate indices are harmless and nothing is read back to the host.
    """
    target = torch.where(vals > 0, idx, d_sae)
    fired = torch.zeros(d_sae + 1, dtype=torch.bool, device=idx.device)
    fired[target.reshape(-1)] = True
    return fired[:d_sae]


class CurveLog:
    """Mixin of the SAE jobs: ``tokens_since_fired``, ``dead_window``, ``step`` and ``log``."""

    tokens_since_fired: torch.Tensor
    dead_window: int
    step: int
    metrics_every: int = 1

    def _init_curve(self, metrics_every: int) -> None:
        self.metrics_every = max(1, int(metrics_every))
        self._rows: list[dict[str, float]] = []  # tokens and step are ints
        self._pending: list[tuple[int, int, torch.Tensor, float]] = []
        self._reported = 0

    @property
    def log(self) -> list[dict[str, float]]:
        """The training curve, one row per optimizer step (reads pending rows back first)."""
        self.flush_curve()
        return self._rows

    @log.setter
    def log(self, rows: list[dict[str, float]]) -> None:
        self._pending = []
        self._rows = list(rows)
        self._reported = len(self._rows)

    @torch.no_grad()
    def _record(self, n: int, fired: torch.Tensor, loss, fvu, l0, lr) -> None:
        """Advance the dead-latent counters by ``n`` tokens; append one training-curve row."""
        self.tokens_since_fired += n
        self.tokens_since_fired.masked_fill_(fired, 0)
        dead = (self.tokens_since_fired >= self.dead_window).float().mean()
        self.step += 1
        dev = self.tokens_since_fired.device
        values = torch.stack(
            [
                torch.as_tensor(v, device=dev).detach().double().reshape(())
                for v in (loss, fvu, l0, dead)
            ]
        )
        self._pending.append((self.step * n, self.step, values, float(lr)))
        if len(self._pending) >= self.metrics_every:
            self.flush_curve()

    def flush_curve(self) -> None:
        """Read the pending rows back to the host (one transfer)."""
        if not self._pending:
            return
        values = torch.stack([p[2] for p in self._pending]).tolist()
        for (tokens, step, _, lr), (loss, fvu, l0, dead) in zip(self._pending, values, strict=True):
            row = (tokens, step, loss, fvu, l0, dead, lr)
            self._rows.append(dict(zip(LOG_COLUMNS, row, strict=True)))
        self._pending = []

    def new_rows(self, flush: bool = True) -> list[dict[str, Any]]:
        """Rows not handed out before (for the tracker and the progress bar)."""
        if flush:
            self.flush_curve()
        rows = self._rows[self._reported :]
        self._reported = len(self._rows)
        return rows
