"""Residual-stream activation cache: one forward pass per (model, init) for every requested layer.

Format (docs/architecture.md): ``manifest.json`` + ``layer<L>/shard_<i>.npy`` (memory-mappable
``(tokens, d_model)`` arrays) + ``tokens.npy``. Training can instead *stream* activations straight
from the model (``randsae.sae.act_source.StreamActivationSource``); both read the model through
:func:`residual_batches`, so the two sources see the same activations in the same order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from randsae.io import read_json, sha256_file, write_json

NP_DTYPES = {"float32": np.float32, "float16": np.float16}


# Shard checksums. Opening a shard checks its size and a sampled sha256 (SAMPLES chunks of
# SAMPLE_BYTES spread over the file; files up to SAMPLES * SAMPLE_BYTES are hashed whole), which
# costs a few ms whatever the shard size; the full check (``full=True``) reads the whole shard.
SAMPLE_BYTES = 1 << 16
SAMPLES = 64


class CacheError(ValueError):
    """An activation-cache shard is missing, truncated or altered."""


def sampled_sha256(path: str | Path, size: int | None = None) -> str:
    """sha256 of the size and SAMPLES evenly spaced chunks (the whole file when it is small)."""
    size = Path(path).stat().st_size if size is None else size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        if size <= SAMPLES * SAMPLE_BYTES:
            h.update(fh.read())
        else:
            for i in range(SAMPLES):
                fh.seek((size - SAMPLE_BYTES) * i // (SAMPLES - 1))
                h.update(fh.read(SAMPLE_BYTES))
    return h.hexdigest()


def shard_checksum(path: str | Path) -> dict[str, Any]:
    """The manifest record of one shard: bytes, sha256 and sampled sha256."""
    size = Path(path).stat().st_size
    return {
        "bytes": size,
        "sha256": sha256_file(path),
        "sampled_sha256": sampled_sha256(path, size),
    }


def rebuild_command(cache_dir: str | Path) -> str:
    return f"snakemake --cores all --forcerun {cache_dir}"


def verify_shards(
    cache_dir: str | Path, manifest: dict[str, Any], layer: int, *, full: bool = False
) -> int:
    """Check one layer's shards against the manifest's checksums; returns how many were checked.

    Raises :class:`CacheError` naming the shard and the command that rebuilds the cache. A
    manifest written before checksums existed has none: nothing is checked (returns 0).
    """
    sums = manifest.get("checksums")
    if sums is None:
        return 0
    hint = f"rebuild the cache with: {rebuild_command(cache_dir)}"
    rels = manifest["shards"][str(layer)]
    for rel in rels:
        path, rec = Path(cache_dir) / rel, sums.get(rel)
        if rec is None:
            raise CacheError(
                f"activation cache: shard {path} has no checksum in the manifest; {hint}"
            )
        if not path.is_file():
            raise CacheError(f"activation cache: shard {path} is missing; {hint}")
        size = path.stat().st_size
        if size != rec["bytes"]:
            raise CacheError(
                f"activation cache: shard {path} has {size} bytes but the manifest records "
                f"{rec['bytes']} (truncated or overwritten); {hint}"
            )
        if sampled_sha256(path, size) != rec["sampled_sha256"] or (
            full and sha256_file(path) != rec["sha256"]
        ):
            raise CacheError(
                f"activation cache: shard {path} does not match its sha256 in the manifest "
                f"(altered on disk); {hint}"
            )
    return len(rels)


def hook_name(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


@torch.inference_mode()
def residual_batches(
    lm: Any,
    seqs: np.ndarray,
    layers: list[int],
    batch_size: int,
    first_seq: int = 0,
    seq_ids: np.ndarray | None = None,
    to_host: bool = True,
) -> Iterator[dict[int, torch.Tensor]]:
    """Yield {layer: (batch*ctx, d_model) fp32 CPU tensor} per batch of sequences.

    ``to_host=False``: the tensors stay on the model's device, in the model's dtype (stream mode
    on a GPU: no host round trip).

    Stops the forward pass at the deepest requested layer; the init's hooks (noise control) are
    active on every pass. Every pass has exactly ``batch_size`` sequences: a last, shorter batch
    is padded with copies of its last sequence whose rows are dropped, so the activation cache
    and the stream source (which forwards shuffled sequences) run the same shapes and agree bit
    for bit. ``seq_ids`` (default ``first_seq + arange``) are the sequences' indices in the
    stage's token array: before each pass the model is told them (``lm.seek``), so the noise
    control gives a sequence the same noise whichever slice or batch it is computed in.
    """
    names = [hook_name(layer) for layer in layers]
    stop = max(layers) + 1
    device = lm.model.cfg.device
    seek = getattr(lm, "seek", None)
    ids = (
        np.arange(first_seq, first_seq + len(seqs), dtype=np.int64)
        if seq_ids is None
        else np.asarray(seq_ids, dtype=np.int64)
    )
    if len(ids) != len(seqs):
        raise ValueError(f"seq_ids has {len(ids)} entries for {len(seqs)} sequences")
    with lm.model.hooks(fwd_hooks=lm.fwd_hooks):
        for i in range(0, len(seqs), batch_size):
            chunk, chunk_ids = seqs[i : i + batch_size], ids[i : i + batch_size]
            n = len(chunk)
            if n < batch_size:
                pad = np.repeat(chunk[-1:], batch_size - n, axis=0)
                chunk = np.concatenate([chunk, pad])
                chunk_ids = np.concatenate([chunk_ids, np.repeat(chunk_ids[-1:], batch_size - n)])
            if seek is not None:
                seek(chunk_ids)
            batch = torch.from_numpy(chunk.astype(np.int64)).to(device)
            _, cache = lm.model.run_with_cache(batch, names_filter=names, stop_at_layer=stop)
            out = {layer: cache[hook_name(layer)][:n].flatten(0, 1) for layer in layers}
            yield {L: a.float().cpu() for L, a in out.items()} if to_host else out


def write_cache(
    lm: Any,
    seqs: np.ndarray,
    layers: list[int],
    out_dir: str | Path,
    *,
    batch_size: int,
    shard_tokens: int,
    dtype: str = "float32",
    meta: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the model once over ``seqs`` (n_seq, ctx) and shard ``hook_resid_post`` of each layer."""
    from randsae.progress import progress as progress_bar

    if dtype not in NP_DTYPES:
        raise ValueError(f"activations.dtype must be one of {list(NP_DTYPES)}, got {dtype!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = sorted(layers)
    n_tokens = seqs.size
    d_model = lm.model.cfg.d_model
    shard_tokens = max(seqs.shape[1], shard_tokens - shard_tokens % seqs.shape[1])
    n_shards = -(-n_tokens // shard_tokens)
    shards: dict[str, list[str]] = {str(layer): [] for layer in layers}
    open_maps: dict[int, np.memmap] = {}
    pos = 0
    bar = progress_bar(total=n_tokens, desc="activations", unit="tok", disable=not progress)
    for acts in residual_batches(lm, seqs, layers, batch_size):
        n = next(iter(acts.values())).shape[0]
        written = 0
        while written < n:
            shard_idx, offset = divmod(pos + written, shard_tokens)
            take = min(n - written, shard_tokens - offset)
            for layer in layers:
                if offset == 0:
                    rel = f"layer{layer}/shard_{shard_idx:05d}.npy"
                    (out_dir / f"layer{layer}").mkdir(exist_ok=True)
                    size = min(shard_tokens, n_tokens - shard_idx * shard_tokens)
                    open_maps[layer] = np.lib.format.open_memmap(
                        out_dir / rel, mode="w+", dtype=NP_DTYPES[dtype], shape=(size, d_model)
                    )
                    shards[str(layer)].append(rel)
                chunk = acts[layer][written : written + take].numpy()
                if not np.isfinite(chunk).all():
                    raise ValueError(
                        f"non-finite activations at layer {layer} (tokens {pos + written}..)"
                    )
                open_maps[layer][offset : offset + take] = chunk
            written += take
        pos += n
        bar.update(n)
    bar.close()
    for mm in open_maps.values():
        mm.flush()
    np.save(out_dir / "tokens.npy", seqs.reshape(-1).astype(np.int32))
    manifest = {
        **(meta or {}),
        "layers": layers,
        "d_model": d_model,
        "dtype": dtype,
        "n_tokens": int(n_tokens),
        "context_size": int(seqs.shape[1]),
        "shard_tokens": int(shard_tokens),
        "n_shards": n_shards,
        "shards": shards,
        # size + sha256 (whole and sampled) of every shard, checked when a shard is opened
        "checksums": {
            rel: shard_checksum(out_dir / rel) for rels in shards.values() for rel in rels
        },
    }
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def read_layer(cache_dir: str | Path, layer: int) -> np.ndarray:
    """Concatenate one layer's shards (small caches / tests only; training streams shards)."""
    cache_dir = Path(cache_dir)
    manifest = read_json(cache_dir / "manifest.json")
    if str(layer) not in manifest["shards"]:
        raise ValueError(
            f"layer {layer} is not in the cache {cache_dir} (has {manifest['layers']})"
        )
    verify_shards(cache_dir, manifest, layer, full=True)
    return np.concatenate(
        [np.load(cache_dir / rel, mmap_mode="r") for rel in manifest["shards"][str(layer)]]
    )
