"""The seeded block shuffle shared by the activation sources (``randsae.sae.act_source``).

The epoch's token stream is cut into blocks of ``buffer_tokens`` rows; each epoch visits the
blocks in a seeded order and emits each block as batches of a seeded row permutation, so the
batch index alone is the resumable state (see ``act_source``'s module docstring).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from randsae.config import stable_seed


class BlockShuffle:
    """Seeded block-shuffle schedule over ``epoch_tokens`` rows; tracks the resumable position."""

    def __init__(
        self, epoch_tokens: int, *, batch_size: int, n_tokens: int, buffer_tokens: int, seed: int
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        usable = epoch_tokens // batch_size * batch_size
        if usable == 0:
            raise ValueError(
                f"activation source has {epoch_tokens} tokens, fewer than one batch ({batch_size})"
            )
        self.batch_size = batch_size
        self.epoch_tokens = usable
        self.block_tokens = max(batch_size, buffer_tokens // batch_size * batch_size)
        self.n_blocks = math.ceil(usable / self.block_tokens)
        self.n_batches = n_tokens // batch_size
        self.seed = seed
        if self.n_batches * batch_size > usable:
            warnings.warn(
                f"n_tokens={n_tokens} exceeds the {usable} usable tokens of the source: wrapping "
                "to the start for further epochs, each with a new shuffle seed",
                stacklevel=3,
            )
        self.pos = 0  # batches emitted so far

    def block_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(stable_seed(self.seed, "block-order", epoch))
        return torch.randperm(self.n_blocks, generator=g)

    def block_range(self, block: int) -> tuple[int, int]:
        start = block * self.block_tokens
        return start, min(start + self.block_tokens, self.epoch_tokens)

    def row_perm(self, epoch: int, block: int, n_rows: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(stable_seed(self.seed, "rows", epoch, block))
        return torch.randperm(n_rows, generator=g)

    def locate(self, pos: int) -> tuple[int, int, int]:
        """Map a global batch index to ``(epoch, block position in the epoch order, batch)``."""
        per_epoch = self.epoch_tokens // self.batch_size
        epoch, rem = divmod(pos, per_epoch)
        # Blocks are multiples of batch_size except possibly the last; walk the order.
        order = self.block_order(epoch)
        for bpos in range(self.n_blocks):
            start, stop = self.block_range(int(order[bpos]))
            nb = (stop - start) // self.batch_size
            if rem < nb:
                return epoch, bpos, rem
            rem -= nb
        raise AssertionError("position beyond epoch")  # pragma: no cover


class ShuffledSource:
    """Shared iteration logic; subclasses implement :meth:`_load_block` (rows ``[start, stop)``)."""

    _sched: BlockShuffle
    batch_size: int
    n_tokens: int

    def __init__(self) -> None:
        self._cur_key: tuple[int, int] | None = None
        self._cur_block: Any = None
        self._cur_perm: torch.Tensor | None = None

    # -- to implement -----------------------------------------------------------------------
    def _load_block(self, start: int, stop: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _gather(self, block: Any, rows: torch.Tensor) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- iteration --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._sched.n_batches

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        sched = self._sched
        if sched.pos >= sched.n_batches:
            raise StopIteration
        epoch, bpos, b = sched.locate(sched.pos)
        key = (epoch, bpos)
        if key != self._cur_key:
            self._cur_block = None  # free the old block before reading the next one
            block = int(sched.block_order(epoch)[bpos])
            start, stop = sched.block_range(block)
            self._cur_block = self._load_block(start, stop)
            self._cur_perm = sched.row_perm(epoch, block, stop - start)
            self._cur_key = key
        assert self._cur_perm is not None
        rows = self._cur_perm[b * self.batch_size : (b + 1) * self.batch_size]
        sched.pos += 1
        return self._gather(self._cur_block, rows)

    @property
    def tokens_consumed(self) -> int:
        return self._sched.pos * self.batch_size

    def state_dict(self) -> dict[str, int]:
        """Resumable position (batches emitted) plus the settings it is only valid for."""
        s = self._sched
        return {
            "pos": s.pos,
            "seed": s.seed,
            "batch_size": s.batch_size,
            "block_tokens": s.block_tokens,
            "epoch_tokens": s.epoch_tokens,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a position saved by :meth:`state_dict` (settings must match)."""
        s = self._sched
        for key in ("seed", "batch_size", "block_tokens", "epoch_tokens"):
            if int(state[key]) != int(getattr(s, key)):
                raise ValueError(
                    f"cannot resume activation source: {key}={state[key]} in the checkpoint, "
                    f"{getattr(s, key)} now"
                )
        s.pos = int(state["pos"])
        self._cur_key = None
        self._cur_block = None
