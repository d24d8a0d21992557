"""The seeded sequence shuffle shared by the activation sources (``randsae.sae.act_source``).

Each epoch visits the ``context_size``-token sequences in a seeded order, cut into blocks of
whole sequences, and emits each block as batches of a seeded row permutation, so the batch index
alone is the resumable state (see ``act_source``'s module docstring).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from randsae.seeds import stable_seed


class SequenceShuffle:
    """Seeded sequence-shuffle schedule over ``n_seq`` sequences of ``context_size`` tokens.

    Epoch ``e`` visits the sequences in a seeded random order; that order is cut into blocks of
    ``block_seqs`` sequences (``buffer_tokens`` rounded down to a multiple of both the batch and
    the context size), and each block is emitted as batches of a seeded permutation of its rows.
    Tokens of a last block that do not fill a batch are left out of that epoch.
    """

    def __init__(
        self,
        n_seq: int,
        *,
        context_size: int,
        batch_size: int,
        n_tokens: int,
        buffer_tokens: int,
        seed: int,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if context_size <= 0:
            raise ValueError(f"context_size must be positive, got {context_size}")
        self.batch_size = batch_size
        self.context_size = context_size
        self.n_seq = n_seq
        unit = math.lcm(batch_size, context_size)
        self.block_tokens = max(unit, buffer_tokens // unit * unit)
        self.block_seqs = self.block_tokens // context_size
        self.n_blocks = math.ceil(n_seq / self.block_seqs)
        last = n_seq * context_size - (self.n_blocks - 1) * self.block_tokens
        self.batches_per_block = self.block_tokens // batch_size
        self.last_block_batches = last // batch_size
        per_epoch = (self.n_blocks - 1) * self.batches_per_block + self.last_block_batches
        if per_epoch == 0:
            raise ValueError(
                f"activation source has {n_seq * context_size} tokens, fewer than one batch "
                f"({batch_size})"
            )
        self.batches_per_epoch = per_epoch
        self.epoch_tokens = per_epoch * batch_size
        self.n_batches = n_tokens // batch_size
        self.seed = seed
        if self.n_batches > per_epoch:
            warnings.warn(
                f"n_tokens={n_tokens} exceeds the {self.epoch_tokens} usable tokens of the "
                "source: wrapping to the start for further epochs, each with a new shuffle seed",
                stacklevel=3,
            )
        self.pos = 0  # batches emitted so far
        self._order: tuple[int, torch.Tensor] | None = None

    def sequence_order(self, epoch: int) -> torch.Tensor:
        if self._order is None or self._order[0] != epoch:
            g = torch.Generator().manual_seed(stable_seed(self.seed, "sequence-order", epoch))
            self._order = (epoch, torch.randperm(self.n_seq, generator=g))
        return self._order[1]

    def block_sequences(self, epoch: int, block: int) -> np.ndarray:
        """Sequence indices of ``block`` in epoch ``epoch``, in visiting order."""
        order = self.sequence_order(epoch)
        return order[block * self.block_seqs : (block + 1) * self.block_seqs].numpy()

    def row_perm(self, epoch: int, block: int, n_rows: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(stable_seed(self.seed, "rows", epoch, block))
        return torch.randperm(n_rows, generator=g)

    def locate(self, pos: int) -> tuple[int, int, int]:
        """Map a global batch index to ``(epoch, block, batch within the block)``."""
        epoch, rem = divmod(pos, self.batches_per_epoch)
        block, b = divmod(rem, self.batches_per_block)
        return epoch, block, b


class ShuffledSource:
    """Shared iteration logic; subclasses implement :meth:`_load_block` (rows of sequences)."""

    _sched: SequenceShuffle
    batch_size: int
    n_tokens: int
    #: Device of a block kept off the host: each block's row permutation is moved there once.
    perm_device: torch.device | None = None

    def __init__(self) -> None:
        self._cur_key: tuple[int, int] | None = None
        self._cur_block: Any = None
        self._cur_perm: torch.Tensor | None = None

    # -- to implement -----------------------------------------------------------------------
    def _load_block(self, seqs: np.ndarray) -> Any:  # pragma: no cover - abstract
        """Rows of sequences ``seqs`` (in that order), ``len(seqs) * context_size`` of them."""
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
        epoch, block, b = sched.locate(sched.pos)
        key = (epoch, block)
        if key != self._cur_key:
            self._cur_block = None  # free the old block before reading the next one
            seqs = sched.block_sequences(epoch, block)
            self._cur_block = self._load_block(seqs)
            perm = sched.row_perm(epoch, block, len(seqs) * sched.context_size)
            self._cur_perm = perm if self.perm_device is None else perm.to(self.perm_device)
            self._cur_key = key
        assert self._cur_perm is not None
        rows = self._cur_perm[b * self.batch_size : (b + 1) * self.batch_size]
        sched.pos += 1
        return self._gather(self._cur_block, rows)

    @property
    def tokens_consumed(self) -> int:
        return self._sched.pos * self.batch_size

    _STATE_KEYS = ("seed", "batch_size", "context_size", "block_tokens", "epoch_tokens")

    def state_dict(self) -> dict[str, Any]:
        """Resumable position (batches emitted) plus the settings it is only valid for."""
        s = self._sched
        return {"pos": s.pos, "shuffle": "sequence"} | {k: getattr(s, k) for k in self._STATE_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a position saved by :meth:`state_dict` (settings must match)."""
        s = self._sched
        if state.get("shuffle") != "sequence":
            raise ValueError(
                "cannot resume activation source: the checkpoint was written with another "
                "shuffle scheme; delete it to restart"
            )
        for key in self._STATE_KEYS:
            if int(state[key]) != int(getattr(s, key)):
                raise ValueError(
                    f"cannot resume activation source: {key}={state[key]} in the checkpoint, "
                    f"{getattr(s, key)} now"
                )
        s.pos = int(state["pos"])
        self._cur_key = None
        self._cur_block = None
