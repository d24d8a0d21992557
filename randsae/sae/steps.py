"""Stage glue for rules/sae.smk: activation cache and SAE training (cache and stream modes)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from randsae import provenance
from randsae.io import read_json
from randsae.sections import ActivationsConfig, InitConfig, ModelSource, SAEConfig
from randsae.seeds import stable_seed

log = logging.getLogger("randsae")


def _training_inputs(
    model_cfg: ModelSource,
    init_cfg: InitConfig,
    init: str,
    act_cfg: ActivationsConfig,
    tokens_train: str,
    device: str,
    init_json: str | None,
):
    """``(device, model, sequences)`` of SAE training: the model with its ``train`` noise stream
    and the ``activations.n_train_tokens`` training tokens (cache and stream modes agree)."""
    from randsae.data.corpus import sequences
    from randsae.models.inits import load_model
    from randsae.models.neox import resolve_device

    dev = resolve_device(device)
    lm = load_model(
        model_cfg, init_cfg, init, device=dev, noise_stream="train", init_json=init_json
    )
    tokens = np.load(tokens_train)
    return dev, lm, sequences(tokens, act_cfg.context_size, act_cfg.n_train_tokens)


def shuffle_settings(sae_cfg: SAEConfig, seed: int, model: str, init: str) -> dict[str, Any]:
    """The batches an activation source feeds SAE training: one shuffle seed per (model, init),
    so the cache source and the stream source (one buffer per layer, shared forward pass) feed
    identical batches."""
    return {
        "batch_size": sae_cfg.batch_size,
        "n_tokens": sae_cfg.n_tokens,
        "buffer_tokens": sae_cfg.shuffle_buffer_tokens,
        "seed": stable_seed(seed, "shuffle", model, init),
    }


def cache_activations(
    model_cfg: ModelSource,
    init_cfg: InitConfig,
    init: str,
    act_cfg: ActivationsConfig,
    max_layer: int,
    tokens_train: str,
    out_dir: str,
    device: str,
    init_json: str | None = None,
) -> None:
    """Shard the residual stream of every layer up to ``max_layer`` (the deepest studied one)."""
    from randsae.sae.activations import write_cache

    layers = list(range(max_layer + 1))
    _, lm, seqs = _training_inputs(
        model_cfg, init_cfg, init, act_cfg, tokens_train, device, init_json
    )
    opts = {k: getattr(act_cfg, k) for k in ("batch_size", "shard_tokens", "dtype")}
    meta = {"model": model_cfg.name, "init": init}
    manifest = write_cache(lm, seqs, layers, out_dir, meta=meta, **opts)
    if manifest["n_tokens"] < act_cfg.n_train_tokens:
        log.warning(
            "only %d training tokens available (activations.n_train_tokens=%d)",
            manifest["n_tokens"],
            act_cfg.n_train_tokens,
        )


def train_sae(
    model: str,
    init: str,
    layer: int,
    sae_cfg: SAEConfig,
    act_cfg: ActivationsConfig,
    seed: int,
    cache_dir: str,
    out_dir: str,
    curve_csv: str,
    checkpoint_dir: str,
    device: str,
    tracking: str = "none",
) -> None:
    """One SAE from the (model, init)'s activation cache. ``tracking``: ``sae.tracking`` (it
    changes no output, so the rule passes it apart from ``sae_cfg``, built from its params)."""
    from randsae.models.neox import resolve_device
    from randsae.sae.act_source import CachedActivationSource
    from randsae.sae.activations import hook_name
    from randsae.sae.train import train_sae as _train

    manifest = read_json(Path(cache_dir) / "manifest.json")
    job_seed = stable_seed(seed, "sae", model, init, layer)
    source = CachedActivationSource(
        cache_dir,
        layer,
        **shuffle_settings(sae_cfg, seed, model, init),
        verify="full",  # a truncated or altered shard fails here, naming it
        device=resolve_device(device),
    )
    meta = {
        "model_name": model,
        "init": init,
        "layer": layer,
        "hook_name": hook_name(layer),
        "context_size": act_cfg.context_size,
    }
    summary = _train(
        source,
        d_in=manifest["d_model"],
        cfg=sae_cfg,
        seed=job_seed,
        out_dir=out_dir,
        device=resolve_device(device),
        metadata=meta,
        checkpoint_dir=checkpoint_dir,
        log_csv=curve_csv,
        tracking=tracking,
        tracking_dir=tracking_dir(model, init, f"layer{layer}"),
        run_name=f"{model}/{init}/layer{layer}",
    )
    log.info("SAE: %s", summary)
    params = {"sae": SAEConfig.rule_params(sae_cfg.to_dict())}
    provenance.write_meta(
        Path(out_dir) / "meta.json", "train_sae", params=params, summary=summary, **meta
    )


def tracking_dir(model: str, init: str, job: str) -> Path:
    """Where ``sae.tracking`` writes (outside the rule's outputs, like the checkpoints)."""
    return Path("results/tracking") / model / init / job


def layer_groups(layers: list[int], group_size: int) -> list[list[int]]:
    """Consecutive groups of the sorted layers (stream mode: one forward pass per group)."""
    layers = sorted(layers)
    return [layers[i : i + group_size] for i in range(0, len(layers), group_size)]


def train_sae_group(
    model_cfg: ModelSource,
    init_cfg: InitConfig,
    init: str,
    layers: list[int],
    sae_cfg: SAEConfig,
    act_cfg: ActivationsConfig,
    seed: int,
    tokens_train: str,
    out_dir: str,
    device: str,
    *,
    tracking: str = "none",
    init_json: str | None = None,
) -> None:
    """Stream mode: train the SAEs of a group of layers from one forward pass, no disk cache."""
    from randsae.sae.act_source import StreamActivationSource
    from randsae.sae.activations import hook_name
    from randsae.sae.train import train_sae_group as _train_group

    model = model_cfg.name
    dev, lm, seqs = _training_inputs(
        model_cfg, init_cfg, init, act_cfg, tokens_train, device, init_json
    )
    source = StreamActivationSource(
        lm,
        seqs,
        layers,
        context_size=act_cfg.context_size,
        **shuffle_settings(sae_cfg, seed, model, init),
        forward_batch_size=act_cfg.batch_size,
        storage_dtype=act_cfg.dtype,
        device=dev,
    )
    out = Path(out_dir)
    meta = {
        layer: {
            "model_name": model,
            "init": init,
            "layer": layer,
            "hook_name": hook_name(layer),
            "context_size": act_cfg.context_size,
        }
        for layer in layers
    }
    summaries = _train_group(
        source,
        d_in=lm.model.cfg.d_model,
        cfg=sae_cfg,
        seeds={layer: stable_seed(seed, "sae", model, init, layer) for layer in layers},
        out_dirs={layer: out / f"layer{layer}" for layer in layers},
        device=dev,
        metadata=meta,
        checkpoint_dir=Path("results/checkpoints")
        / model
        / init
        / f"group{'-'.join(map(str, layers))}",
        log_csvs={layer: out / f"layer{layer}" / "training_curve.csv" for layer in layers},
        tracking=tracking,
        tracking_dir=tracking_dir(model, init, f"group{'-'.join(map(str, layers))}"),
        run_name=f"{model}/{init}/group{'-'.join(map(str, layers))}",
    )
    for layer, summary in summaries.items():
        log.info("SAE layer %d: %s", layer, summary)
        provenance.write_meta(
            out / f"layer{layer}" / "meta.json",
            "train_sae_group",
            params={"sae": SAEConfig.rule_params(sae_cfg.to_dict())},
            summary=summary,
            **meta[layer],
        )


def link_sae(group_dir: str, layer: int, out_files: list[str]) -> None:
    """Expose one layer's SAE from a group directory at the per-layer path (hard links)."""
    src = Path(group_dir) / f"layer{layer}"
    for dest in map(Path, out_files):
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.unlink()
        try:
            os.link(src / dest.name, dest)
        except OSError:
            import shutil

            shutil.copy2(src / dest.name, dest)
