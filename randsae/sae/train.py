"""TopK SAE training in the authors' recipe (paper.md §3), with a fused CPU-friendly backend.

Recipe (the authors' fork of EleutherAI ``sae``): TopK k, FVU loss
``sum ||x - x_hat||^2 / sum ||x - mean_batch(x)||^2``, no AuxK, unit-norm decoder rows
re-imposed after every step with the gradient component parallel to each row removed before
the optimizer step, ``b_dec`` initialised to the geometric median of the first batch, Adam with
the auto LR ``2e-4 / sqrt(n_latents / 2**14)``, linear warm-up then linear decay, grad-norm
clip 1.0.

Backends: ``fused`` (ours: sparse TopK backward, ``embedding_bag`` decoder) and ``saelens``
(sae-lens's ``SAETrainer`` + ``TopKTrainingSAE``; its loss is sae-lens's MSE, not FVU).

Micro-batching (``micro_batch_size``, fused backend): the optimizer batch is stepped in chunks of
``micro_batch_size`` tokens whose gradients accumulate before one optimizer step, as the authors'
sparsify fork did (4 sequences x 2048 tokens per forward, 8 accumulation steps). The loss is their
per-micro-batch FVU, each chunk's FVU scaled by ``micro / batch``; only a ``(micro, n_latents)``
pre-activation matrix ever exists. ``null`` = one chunk, FVU over the whole optimizer batch.

Checkpoints (``checkpoint_every_steps``) hold everything needed to resume bit-identically:
weights, optimizer, scheduler, dead-latent counters, training log, source position and RNG
states; they are written atomically (temp file + ``os.replace``) and removed only after the
final SAE has been saved.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from randsae import io
from randsae.sae import tracking as trk
from randsae.sae.job import (  # noqa: F401  (re-exported: the recipe's public names)
    DEAD_WINDOW_TOKENS,
    LOG_COLUMNS,
    _SAEJob,
    auto_lr,
    geometric_median,
    linear_warmup_decay,
)
from randsae.sae.levers import Levers, current_levers
from randsae.sections import SAEConfig

CKPT_NAME = "checkpoint.pt"


def resolve_device(device: str | torch.device) -> torch.device:
    """The shared device rule (:func:`randsae.models.neox.resolve_device`) as a ``torch.device``."""
    from randsae.models.neox import resolve_device as _resolve

    return torch.device(_resolve(str(device)))


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_log(path: str | Path, rows: list[dict[str, float]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def train_sae_group(
    source: Iterator[Any],
    *,
    d_in: int,
    cfg: SAEConfig,
    seeds: Mapping[Any, int],
    out_dirs: Mapping[Any, str | Path],
    device: str | torch.device = "cpu",
    metadata: Mapping[Any, dict[str, Any] | None] | None = None,
    checkpoint_dir: str | Path | None = None,
    log_csvs: Mapping[Any, str | Path | None] | None = None,
    tracking: str = "none",
    tracking_dir: str | Path | None = None,
    run_name: str = "sae",
    progress: bool = True,
    levers: Levers | None = None,
) -> dict[Any, dict[str, Any]]:
    """Train one SAE per key of ``seeds`` from a source yielding ``dict[key, (B, d_in)]``.

    Used directly by the stream rule (a group of layers shares one forward pass); see
    :func:`train_sae` for the arguments (``levers``: :mod:`randsae.sae.levers`). Returns one
    summary per key.
    """
    dev = resolve_device(device)
    trk.check_tracking(tracking)
    d_sae = cfg.width(d_in)
    total_steps = cfg.n_tokens // cfg.batch_size  # >= 1 (SAEConfig checks n_tokens >= batch)
    src_d_in = getattr(source, "d_in", d_in)
    if int(src_d_in) != int(d_in):
        raise ValueError(f"activation source has d_in={src_d_in}, SAE configured for d_in={d_in}")
    src_bs = getattr(source, "batch_size", cfg.batch_size)
    if int(src_bs) != cfg.batch_size:
        raise ValueError(f"source batch_size={src_bs} != sae.batch_size={cfg.batch_size}")
    keys = list(seeds)
    job_cls: Any = _SAEJob
    if cfg.architecture != "topk":
        from randsae.sae.families import FamilyJob as job_cls
    levers = levers if levers is not None else current_levers()
    jobs = {
        key: job_cls(
            key,
            d_in=d_in,
            cfg=cfg,
            seed=seeds[key],
            device=dev,
            total_steps=total_steps,
            levers=levers,
        )
        for key in keys
    }
    every = cfg.checkpoint_every_steps
    ckpt_path = Path(checkpoint_dir) / CKPT_NAME if checkpoint_dir is not None else None
    step = 0
    elapsed_before = 0.0
    if ckpt_path is not None and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if state["keys"] != [str(k) for k in keys] or state["total_steps"] != total_steps:
            raise ValueError(f"checkpoint {ckpt_path} does not match this run (keys/steps differ)")
        for key in keys:
            jobs[key].load_state_dict(state["jobs"][str(key)])
        if hasattr(source, "load_state_dict"):
            source.load_state_dict(state["source"])
        _set_rng_state(state["rng"])
        step = int(state["step"])
        elapsed_before = float(state.get("seconds", 0.0))

    bs = cfg.batch_size
    tracker = trk.make_tracker(tracking, tracking_dir, keys, name=run_name, config=cfg.to_dict())
    bar = trk.progress_bar(total_steps * bs, step * bs, desc=run_name) if progress else None
    t0 = time.perf_counter()
    try:
        while step < total_steps:
            try:
                batch = next(source)
            except StopIteration:
                raise ValueError(
                    f"activation source exhausted after {step} of {total_steps} steps"
                ) from None
            if not isinstance(batch, Mapping):
                batch = {keys[0]: batch}
            for key in keys:
                x = batch[key]
                if x.ndim != 2 or x.shape[1] != d_in:
                    raise ValueError(
                        f"batch for {key!r} has shape {tuple(x.shape)}, expected (B, {d_in})"
                    )
                jobs[key].train_step(x)
            step += 1
            if ckpt_path is not None and every > 0 and step % every == 0 and step < total_steps:
                _atomic_torch_save(
                    {
                        "keys": [str(k) for k in keys],
                        "total_steps": total_steps,
                        "step": step,
                        "jobs": {str(k): jobs[k].state_dict() for k in keys},
                        "source": source.state_dict() if hasattr(source, "state_dict") else None,
                        "rng": _rng_state(),
                        "seconds": elapsed_before + time.perf_counter() - t0,
                    },
                    ckpt_path,
                )
            _report(jobs, tracker, bar, bs, flush=step == total_steps)
    finally:
        if bar is not None:
            bar.close()
        tracker.close()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = elapsed_before + time.perf_counter() - t0

    summaries: dict[Any, dict[str, Any]] = {}
    for key in keys:
        job = jobs[key]
        meta = dict((metadata or {}).get(key) or {}, training_precision=job.precision)
        arch, norm = cfg.architecture, cfg.normalize_activations
        if (arch, norm) != ("topk", "none"):  # the paper's default writes the same cfg.json
            meta.update(sae_architecture=arch, sae_normalize_activations=norm)
            if job.scale is not None:
                meta["norm_scaling_factor_folded"] = job.scale
        sae = job.finalize()
        sae.save(out_dirs[key], meta)
        csv_path = (log_csvs or {}).get(key)
        if csv_path is not None:
            _write_log(csv_path, job.log)
        last = job.log[-1]
        tokens = total_steps * bs
        summaries[key] = {
            "fvu": last["fvu"],
            "loss": last["loss"],
            "l0": last["l0"],
            "dead_frac": last["dead_frac"],
            "dead_window_tokens": job.dead_window,
            "tokens": tokens,
            "steps": total_steps,
            "seconds": seconds,
            "tokens_per_s": tokens * len(keys) / seconds if seconds > 0 else float("nan"),
            "backend": job.backend,
            "architecture": arch,
            "normalize_activations": norm,
            "lr": job.lr,
            "d_sae": d_sae,
            "k": job.k,
            "device": str(dev),
            "precision": job.precision,
            "levers": levers.as_dict(),
        }
    # Only now that every SAE is safely saved may the checkpoint go.
    if ckpt_path is not None:
        # Also drop temp files a SIGKILL mid-write may have left behind.
        for stale in [ckpt_path, *ckpt_path.parent.glob(f".{CKPT_NAME}.*.tmp")]:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        with contextlib.suppress(OSError):
            ckpt_path.parent.rmdir()
    return summaries


def _report(jobs: Mapping[Any, Any], tracker: Any, bar: Any, bs: int, *, flush: bool) -> None:
    """Hand the curve rows read back since the last call to the tracker and the progress bar.

    Rows come back every ``metrics_every`` steps (``flush``: now), all jobs at the same steps.
    """
    new = {key: job.new_rows(flush=flush) for key, job in jobs.items()}
    for rows in zip(*new.values(), strict=True):
        by_key = dict(zip(new, rows, strict=True))
        tracker.log_step(int(rows[0]["step"]), by_key)
        if bar is not None:
            bar.set_postfix(trk.postfix(by_key), refresh=False)
            bar.update(bs)


def train_sae(
    source: Iterator[Any],
    *,
    d_in: int,
    cfg: SAEConfig,
    seed: int,
    out_dir: str | Path,
    device: str | torch.device = "cpu",
    metadata: dict[str, Any] | None = None,
    checkpoint_dir: str | Path | None = None,
    log_csv: str | Path | None = None,
    tracking: str = "none",
    tracking_dir: str | Path | None = None,
    run_name: str = "sae",
    progress: bool = True,
    levers: Levers | None = None,
) -> dict[str, Any]:
    """Train one TopK SAE from ``source`` and save it (sae-lens format) to ``out_dir``.

    Args:
        source: iterator of fp32 ``(batch_size, d_in)`` batches (e.g. ``CachedActivationSource``),
            or of single-key dicts; its ``state_dict`` is checkpointed when present.
        d_in: activation width.
        cfg: the model's ``sae`` section (:class:`randsae.sections.SAEConfig`).
        seed: job seed (the SAE init seed is derived from it with sha256).
        out_dir: where ``cfg.json`` + ``sae_weights.safetensors`` go.
        device: ``cpu``, ``cuda[:i]`` or ``auto``.
        metadata: extra ``cfg.json`` metadata (hook_name, model_name, context_size, ...).
        checkpoint_dir: resumable checkpoints (outside the rule's outputs); resumed if present.
        log_csv: training curve CSV (tokens, step, loss, fvu, l0, dead_frac, lr).
        tracking: ``none`` | ``tensorboard`` | ``wandb`` (:mod:`randsae.sae.tracking`): the
            curve per optimizer step; files under ``tracking_dir``; ``run_name`` names the run.
        progress: tqdm bar (tokens/s, FVU, L0, dead fraction, ETA) on stderr.
        levers: speed switches (:mod:`randsae.sae.levers`); they change no result.

    Returns:
        Summary: final fvu/loss/l0/dead_frac, tokens, steps, seconds, tokens_per_s, backend, lr,
        the resolved ``sae.precision`` and the levers used.
    """
    key = "sae"

    class _Wrap:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.d_in = getattr(inner, "d_in", d_in)
            self.batch_size = getattr(inner, "batch_size", cfg.batch_size)

        def __next__(self) -> Any:
            b = next(self.inner)
            if isinstance(b, Mapping):
                if len(b) != 1:
                    raise ValueError("train_sae needs a single-layer source; use train_sae_group")
                (b,) = b.values()
            return b

        def state_dict(self) -> Any:
            return self.inner.state_dict() if hasattr(self.inner, "state_dict") else None

        def load_state_dict(self, s: Any) -> None:
            if s is not None and hasattr(self.inner, "load_state_dict"):
                self.inner.load_state_dict(s)

    it = source if hasattr(source, "__next__") else iter(source)
    out = train_sae_group(
        _Wrap(it),
        d_in=d_in,
        cfg=cfg,
        seeds={key: seed},
        out_dirs={key: out_dir},
        device=device,
        metadata={key: metadata},
        checkpoint_dir=checkpoint_dir,
        log_csvs={key: log_csv},
        tracking=tracking,
        tracking_dir=tracking_dir,
        run_name=run_name,
        progress=progress,
        levers=levers,
    )
    return out[key]
