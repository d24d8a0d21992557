"""Activation sources for SAE training: the on-disk cache and (stream mode) the live model.

Both sources share one seeded *sequence shuffle* so that, for the same tokens, seed and buffer
settings, they emit the same activations in the same order:

* each epoch visits the ``context_size``-token sequences in a seeded random order (the authors
  shuffled their 2,048-token sequences; RedPajama rows are grouped by source, so corpus order
  is not random);
* that order is cut into blocks of ``buffer_tokens`` tokens (whole sequences; rounded down to a
  multiple of ``batch_size`` and ``context_size``), and each block is emitted as batches of a
  seeded random permutation of its rows.

Every permutation comes from a generator seeded by a sha256 of ``(seed, epoch[, block])``, so
the position ``(epoch, block, batch)`` is the whole resumable state, memory is bounded by one
block (``buffer_tokens x d_in`` floats, plus one sequence index per sequence), and a block can
be re-read (cache) or recomputed (stream) on resume without replaying the
stream.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from randsae.sae.activations import verify_shards
from randsae.sae.levers import Levers, current_levers
from randsae.sae.shuffle import SequenceShuffle, ShuffledSource


class LoadedModelLike(Protocol):
    """What :class:`StreamActivationSource` needs from ``randsae.models.inits.LoadedModel``."""

    model: Any
    fwd_hooks: list


def _read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset (bytes) of a ``.npy`` file from its header only."""
    with open(path, "rb") as f:
        major, _minor = np.lib.format.read_magic(f)
        if major == 1:
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if fortran:
            raise ValueError(f"activation cache: shard {path} is Fortran-ordered")
        return tuple(shape), dtype, f.tell()


def _to_float32(arr: np.ndarray, storage: str | None) -> torch.Tensor:
    """Copy a (memmapped) array slice into a new float32 tensor; bfloat16 stored as 2-byte words."""
    if arr.dtype == np.float16 or arr.dtype.kind == "f":
        return torch.from_numpy(np.array(arr, dtype=np.float32, copy=True))
    if arr.dtype.itemsize == 2 and (storage == "bfloat16" or arr.dtype.kind in "uiV"):
        bits = torch.from_numpy(np.array(arr, copy=True).view(np.int16))
        return bits.view(torch.bfloat16).float()
    raise ValueError(f"unsupported activation dtype {arr.dtype} (manifest dtype {storage})")


def _first_nonfinite_row(a: torch.Tensor, chunk: int = 4096) -> int | None:
    for s in range(0, a.shape[0], chunk):
        bad = (~torch.isfinite(a[s : s + chunk]).all(dim=1)).nonzero()
        if len(bad):
            return s + int(bad[0])
    return None


def _all_finite(a: torch.Tensor) -> bool:
    """NaN/Inf check without temporaries the size of ``a``.

    ``torch.isfinite(a)`` and ``a.sum(dtype=float64)`` both allocate block-sized temporaries; a
    float32 sum does not, and NaN/Inf propagate through it. Only if it is not finite (or it
    overflowed) do we scan rows in chunks.
    """
    if bool(torch.isfinite(a.sum(dtype=torch.float32))):
        return True
    return _first_nonfinite_row(a) is None


class CachedActivationSource(ShuffledSource):
    """Shuffled fp32 batches ``(batch_size, d_in)`` from one layer of an on-disk activation cache.

    Opening checks each shard of the layer against the manifest's checksums (``verify``:
    ``sampled`` = size + sampled sha256, cheap; ``full`` = also the whole-file sha256; see
    :func:`randsae.sae.activations.verify_shards`).

    Reads ``manifest.json`` and ``layer<L>/shard_*.npy`` (docs/architecture.md), one block at a
    time, each sequence with a positioned read straight into the block (no memory map), so
    resident memory stays bounded by the block, whatever the cache size.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        layer: int,
        *,
        batch_size: int,
        n_tokens: int,
        buffer_tokens: int,
        seed: int,
        verify: str = "sampled",
        device: str | torch.device | None = None,
        levers: Levers | None = None,
    ) -> None:
        super().__init__()
        self.pin = _pin(device, levers)
        if verify not in ("none", "sampled", "full"):
            raise ValueError(f"verify must be none, sampled or full, got {verify!r}")
        self.cache_dir = Path(cache_dir)
        self.layer = int(layer)
        self.batch_size = int(batch_size)
        self.n_tokens = int(n_tokens)
        manifest_path = self.cache_dir / "manifest.json"
        if not manifest_path.is_file():
            raise ValueError(f"activation cache {self.cache_dir}: no manifest.json")
        self.manifest = json.loads(manifest_path.read_text())
        shards_by_layer = {int(k): v for k, v in self.manifest.get("shards", {}).items()}
        if self.layer not in shards_by_layer:
            raise ValueError(
                f"activation cache {self.cache_dir}: layer {self.layer} missing "
                f"(cached layers: {sorted(shards_by_layer)})"
            )
        self.d_in = int(self.manifest["d_model"])
        self.storage_dtype = self.manifest.get("dtype")
        if verify != "none":
            verify_shards(self.cache_dir, self.manifest, self.layer, full=verify == "full")
        self._shards: list[Path] = []
        self._shard_layout: list[tuple[np.dtype, int]] = []  # (dtype, data offset)
        offsets = [0]
        for rel in shards_by_layer[self.layer]:
            path = self.cache_dir / rel
            if not path.is_file():
                raise ValueError(f"activation cache: shard {path} missing")
            shape, dtype, data_offset = _read_npy_header(path)
            if len(shape) != 2 or shape[1] != self.d_in:
                raise ValueError(
                    f"activation cache: shard {path} has shape {shape}, expected "
                    f"(tokens, d_model={self.d_in})"
                )
            self._shards.append(path)
            self._shard_layout.append((dtype, data_offset))
            offsets.append(offsets[-1] + shape[0])
        self._offsets = np.asarray(offsets, dtype=np.int64)
        total = int(self._offsets[-1])
        declared = self.manifest.get("n_tokens")
        if declared is not None and int(declared) != total:
            raise ValueError(
                f"activation cache {self.cache_dir}: layer {self.layer} shards hold {total} "
                f"tokens but manifest n_tokens={declared}"
            )
        if "context_size" not in self.manifest:
            raise ValueError(f"activation cache {self.cache_dir}: manifest has no context_size")
        self.context_size = int(self.manifest["context_size"])
        self._sched = SequenceShuffle(
            total // self.context_size,
            context_size=self.context_size,
            batch_size=self.batch_size,
            n_tokens=self.n_tokens,
            buffer_tokens=int(buffer_tokens),
            seed=int(seed),
        )

    def _load_block(self, seqs: np.ndarray) -> torch.Tensor:
        """Rows of ``seqs`` read with plain positioned reads (no ``mmap``: a mapping's
        read-around would pull megabytes of neighbouring pages into our RSS per sequence)."""
        ctx = self.context_size
        out = torch.empty(len(seqs) * ctx, self.d_in, dtype=torch.float32, pin_memory=self.pin)
        out_np = out.numpy()
        files: dict[int, Any] = {}
        try:
            for j in np.argsort(seqs, kind="stable"):  # read in file order, place in block order
                pos, stop, dst = int(seqs[j]) * ctx, (int(seqs[j]) + 1) * ctx, int(j) * ctx
                while pos < stop:
                    s = int(np.searchsorted(self._offsets, pos, side="right")) - 1
                    lo, hi = int(self._offsets[s]), int(self._offsets[s + 1])
                    take = min(stop, hi) - pos
                    dtype, data_offset = self._shard_layout[s]
                    if s not in files:
                        files[s] = open(self._shards[s], "rb")  # noqa: SIM115
                    f = files[s]
                    f.seek(data_offset + (pos - lo) * self.d_in * dtype.itemsize)
                    d = out_np[dst : dst + take]
                    buf = d if dtype == np.float32 else np.empty((take, self.d_in), dtype=dtype)
                    want = buf.nbytes
                    if f.readinto(memoryview(buf).cast("B")) != want:
                        raise ValueError(f"activation cache: shard {self._shards[s]} is truncated")
                    if buf is not d:
                        if buf.dtype.kind == "f":
                            np.copyto(d, buf, casting="same_kind")  # float16 upcast
                        else:
                            d[...] = _to_float32(buf, self.storage_dtype).numpy()
                    pos += take
                    dst += take
        finally:
            for f in files.values():
                f.close()
        if not _all_finite(out):
            row = int(_first_nonfinite_row(out) or 0)
            bad = int(seqs[row // ctx]) * ctx + row % ctx
            shard = self._shards[int(np.searchsorted(self._offsets, bad, side="right")) - 1]
            raise ValueError(
                f"activation cache: NaN/Inf activations in layer {self.layer}, token {bad} "
                f"(shard {shard.name})"
            )
        return out

    def _gather(self, block: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return _gather_rows(block, rows, self.pin)


def _pin(device: str | torch.device | None, levers: Levers | None) -> bool:
    """Pinned host blocks and batches: when training on CUDA (lever ``pin_memory``)."""
    lv = levers if levers is not None else current_levers()
    return device is not None and torch.device(device).type == "cuda" and lv.pin_memory


def _gather_rows(block: torch.Tensor, rows: torch.Tensor, pin: bool) -> torch.Tensor:
    """``block[rows]``; into page-locked memory when ``pin`` (an asynchronous copy to the GPU:
    the caching host allocator keeps the buffer until that copy has finished)."""
    if not pin:
        return block.index_select(0, rows)
    out = torch.empty(len(rows), block.shape[1], dtype=block.dtype, pin_memory=True)
    return torch.index_select(block, 0, rows, out=out)


class StreamActivationSource(ShuffledSource):
    """Shuffled activations computed on the fly for a group of layers from one forward pass.

    Yields ``dict[layer, (batch_size, d_in) float32]``. Each block's sequences (in the shuffled
    order) go through :func:`randsae.sae.activations.residual_batches` (the cache writer's
    function) in passes of exactly ``forward_batch_size`` sequences (the last one padded), so
    every pass has the cache writer's shape; a sequence's activations do not depend on the
    other sequences of its pass, and with ``forward_batch_size`` = ``activations.batch_size`` and
    ``storage_dtype`` = ``activations.dtype`` the batches equal the cache source's bit for bit.

    ``device`` is where the SAEs train. On CUDA the block stays on the GPU (lever
    ``stream_block``: the activations never visit the host; stored in ``storage_dtype``, which
    holds exactly the values emitted) or, when it would take more than a quarter of the GPU's
    memory, in pinned host memory. Elsewhere it is an fp32 host block, as before.
    """

    def __init__(
        self,
        lm: LoadedModelLike,
        tokens: np.ndarray,
        layers: Sequence[int],
        *,
        context_size: int,
        batch_size: int,
        n_tokens: int,
        buffer_tokens: int,
        seed: int,
        forward_batch_size: int = 32,
        storage_dtype: str | None = None,
        device: str | torch.device | None = None,
        levers: Levers | None = None,
    ) -> None:
        from randsae.sae.activations import hook_name

        super().__init__()
        self.pin = _pin(device, levers)
        self.lm = lm
        self.layers = sorted(int(x) for x in layers)
        if not self.layers:
            raise ValueError("StreamActivationSource needs at least one layer")
        self.context_size = int(context_size)
        self.batch_size = int(batch_size)
        self.n_tokens = int(n_tokens)
        self.forward_batch_size = int(forward_batch_size)
        toks = np.asarray(tokens)
        n_seq = toks.size // self.context_size
        self.tokens = toks.reshape(-1)[: n_seq * self.context_size].reshape(
            n_seq, self.context_size
        )
        model = lm.model
        n_layers = int(model.cfg.n_layers)
        bad = [L for L in self.layers if not 0 <= L < n_layers]
        if bad:
            raise ValueError(f"stream source: layers {bad} missing (model has {n_layers} layers)")
        missing = [hook_name(L) for L in self.layers if hook_name(L) not in model.hook_dict]
        if missing:
            raise ValueError(f"stream source: hooks {missing} not in the model")
        self.d_in = int(model.cfg.d_model)
        if storage_dtype not in (None, "float32", "float16", "bfloat16"):
            raise ValueError(
                f"storage_dtype must be float32|float16|bfloat16, got {storage_dtype!r}"
            )
        self.storage_dtype = storage_dtype
        self.block_device = _block_device(
            device, levers, len(self.layers) * int(buffer_tokens) * self.d_in, storage_dtype
        )
        self.perm_device = self.block_device
        self._sched = SequenceShuffle(
            n_seq,
            context_size=self.context_size,
            batch_size=self.batch_size,
            n_tokens=self.n_tokens,
            buffer_tokens=int(buffer_tokens),
            seed=int(seed),
        )

    def _load_block(self, seqs: np.ndarray) -> dict[int, torch.Tensor]:
        from randsae.sae.activations import residual_batches

        rows = len(seqs) * self.context_size
        dev = self.block_device
        # On the device the block holds the storage dtype itself (what is emitted is exactly
        # its values as fp32); on the host an fp32 block holds the rounded values.
        dtype = getattr(torch, self.storage_dtype or "float32") if dev else torch.float32
        block = {
            L: torch.empty(
                rows, self.d_in, dtype=dtype, device=dev, pin_memory=self.pin and not dev
            )
            for L in self.layers
        }
        pos = 0
        for acts in residual_batches(
            self.lm,
            self.tokens[seqs],
            self.layers,
            self.forward_batch_size,
            seq_ids=seqs,
            to_host=dev is None,
        ):
            n = next(iter(acts.values())).shape[0]
            for L in self.layers:
                a = acts[L]
                if self.storage_dtype not in (None, "float32") and dev is None:
                    # Round as the cache stores them (IEEE round-to-nearest-even, like numpy).
                    a = a.to(getattr(torch, self.storage_dtype)).float()
                block[L][pos : pos + n] = a
            pos += n
        for L, a in block.items():
            if not _all_finite(a):
                row = int(_first_nonfinite_row(a) or 0)
                bad = int(seqs[row // self.context_size]) * self.context_size
                bad += row % self.context_size
                raise ValueError(f"stream source: NaN/Inf activations at layer {L}, token {bad}")
        return block

    def _gather(
        self, block: dict[int, torch.Tensor], rows: torch.Tensor
    ) -> dict[int, torch.Tensor]:
        if self.block_device is not None:
            return {L: a.index_select(0, rows).float() for L, a in block.items()}
        return {L: _gather_rows(a, rows, self.pin) for L, a in block.items()}


def _block_device(
    device: str | torch.device | None, levers: Levers | None, elements: int, dtype: str | None
) -> torch.device | None:
    """Where a stream block lives: ``device`` itself (lever ``stream_block``) or the host (None).

    ``auto`` keeps it on a CUDA device when it takes at most a quarter of the GPU's memory.
    ``device`` on a CPU device gives the same block as the host path (the tests use it).
    """
    lv = levers if levers is not None else current_levers()
    if device is None or lv.stream_block == "host":
        return None
    dev = torch.device(device)
    if lv.stream_block == "device":
        return dev
    if dev.type != "cuda":
        return None
    nbytes = elements * (2 if dtype in ("float16", "bfloat16") else 4)
    return dev if nbytes <= torch.cuda.get_device_properties(dev).total_memory // 4 else None
