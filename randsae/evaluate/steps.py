"""Stage glue for rules/evaluate.smk: SAE metrics, abstractness, latent examples."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from randsae import io
from randsae.seeds import stable_seed

log = logging.getLogger("randsae")


def _open_cell(
    model: str,
    init: str,
    config: dict[str, Any],
    sae_dir: str,
    device: str,
    *,
    noise_stream: str,
    init_json: str | None,
):
    """Device, the (model, init) variant (its noise stream, its weights digest checked against
    ``init_json``) and the cell's SAE, on that device."""
    from randsae.models.inits import load_model
    from randsae.models.neox import resolve_device
    from randsae.sae.families import load_sae

    dev = resolve_device(device)
    lm = load_model(model, init, config, device=dev, noise_stream=noise_stream, init_json=init_json)
    return dev, lm, load_sae(sae_dir, device=dev)


def eval_sae(
    model: str,
    init: str,
    layer: int,
    config: dict[str, Any],
    sae_dir: str,
    tokens_val: str,
    out_json: str,
    out_latents: str,
    device: str,
    init_json: str | None = None,
    *,
    opened: tuple[str, Any, Any] | None = None,
) -> None:
    """SAE quality metrics and abstractness measures from the same held-out forward passes.

    ``opened``: the cell's ``(device, model, SAE)`` of :func:`_open_cell` with the ``eval``
    noise stream, when the caller has loaded them already."""
    import pandas as pd

    from randsae.data.corpus import sequences
    from randsae.evaluate.abstractness import AbstractnessAccumulator, summarize_abstractness
    from randsae.evaluate.metrics import evaluate_sae

    dev, lm, sae = opened or _open_cell(
        model, init, config, sae_dir, device, noise_stream="eval", init_json=init_json
    )
    ev = config["eval"]
    seqs = sequences(np.load(tokens_val), config["activations"]["context_size"], ev["n_tokens"])
    acc = AbstractnessAccumulator(
        int(sae.d_sae),
        lm.model.cfg.d_vocab,
        top_n=ev["entropy_top_n"],
        r2_min_count=ev["r2_min_count"],
        device=dev,
    )
    result = evaluate_sae(
        lm,
        sae,
        seqs,
        layer,
        batch_size=ev["batch_size"],
        device=dev,
        density_bins=ev["density_bins"],
        density_log10_min=ev["density_log10_min"],
        ignore_token_ids=ev["ignore_token_ids"],
        latent_consumers=[acc.update],
    )
    per_latent = acc.finalize(ev["abstractness_min_activations"])
    pd.DataFrame({k: np.asarray(v) for k, v in per_latent.items()}).to_csv(out_latents, index=False)
    scalars = {k: v for k, v in result.items() if np.isscalar(v)}
    arrays = {
        k: v for k, v in result.items() if not np.isscalar(v) and k.startswith("density_hist")
    }
    io.write_json(
        out_json,
        io.to_data(
            {
                "model": model,
                "init": init,
                "layer": layer,
                "d_vocab": int(lm.model.cfg.d_vocab),  # fixes the entropy histogram range
                # the SAE family and training normalisation (sae.architecture, sae-lens values)
                **sae_family(sae_dir),
                # the positions left out of every metric, one column of sae_metrics.csv
                "ignore_token_ids": json.dumps(list(ev["ignore_token_ids"])),
                **scalars,
                "abstractness": summarize_abstractness(per_latent),
                "arrays": arrays,
            },
            nan_to_none=True,
        ),
    )
    log.info(
        "metrics: EV %.4f, CE score %.4f", result["explained_variance"], result["ce_loss_score"]
    )


def eval_cell(*, tokenizer_path: str, out_examples: str, **cell: Any) -> None:
    """The ``eval_sae`` job: :func:`eval_sae` (``cell`` holds its arguments), then
    :func:`latent_examples` on the same cell, in one process.

    The model stack is imported, and the (model, init) built, its weights digest checked and the
    SAE read, once for both; the examples get the model with their own noise stream
    (:meth:`~randsae.models.inits.LoadedModel.with_stream`) and their own seed, so the outputs
    are those of the two stages run apart.
    """
    dev, lm, sae = opened = _open_cell(
        cell["model"],
        cell["init"],
        cell["config"],
        cell["sae_dir"],
        cell["device"],
        noise_stream="eval",
        init_json=cell.get("init_json"),
    )
    eval_sae(**cell, opened=opened)
    shared = ("model", "init", "layer", "config", "sae_dir", "tokens_val", "device")
    latent_examples(
        **{k: cell[k] for k in shared},
        tokenizer_path=tokenizer_path,
        out_json=out_examples,
        opened=(dev, lm.with_stream("examples"), sae),
    )


def sae_family(sae_dir: str) -> dict[str, str]:
    """``sae_architecture`` and ``sae_normalize_activations`` the SAE was trained with (recorded
    in its ``cfg.json`` metadata by ``randsae.sae.train``; absent = the paper's TopK, none)."""
    meta = io.read_json(f"{sae_dir}/cfg.json").get("metadata") or {}
    return {
        "sae_architecture": meta.get("sae_architecture", "topk"),
        "sae_normalize_activations": meta.get("sae_normalize_activations", "none"),
    }


def latent_examples(
    model: str,
    init: str,
    layer: int,
    config: dict[str, Any],
    tokenizer_path: str,
    sae_dir: str,
    tokens_val: str,
    out_json: str,
    *,
    opened: tuple[str, Any, Any] | None = None,
    device: str,
    init_json: str | None = None,
) -> None:
    """The cell's latent codes on held-out text, the chosen latents and their example windows.

    ``opened``: as for :func:`eval_sae`, with the ``examples`` noise stream."""
    from randsae.data.corpus import sequences
    from randsae.data.tokenizer import load_tokenizer, token_strings
    from randsae.evaluate.examples import latent_codes, mask_positions, sample_examples

    ex = config["examples"]
    dev, lm, sae = opened or _open_cell(
        model, init, config, sae_dir, device, noise_stream="examples", init_json=init_json
    )
    seqs = sequences(np.load(tokens_val), ex["context_size"], ex["n_tokens"])
    vals, idx = latent_codes(
        lm, seqs, layer, lambda x: sae.encode(x.to(dev)), config["eval"]["batch_size"]
    )
    ignore = list(config["eval"]["ignore_token_ids"])
    vals = mask_positions(vals, seqs, ignore)
    tok = load_tokenizer(tokenizer_path)
    result = sample_examples(
        seqs.reshape(-1),
        vals,
        idx,
        int(sae.d_sae),
        ex,
        stable_seed(config["seed"], "examples", model, init, layer),
        lambda ids: token_strings(tok, ids),
    )
    io.write_json(
        out_json,
        {"model": model, "init": init, "layer": layer, "ignore_token_ids": ignore, **result},
    )
    log.info(
        "examples: %d latents chosen, %d examined", result["n_latents_chosen"], result["n_examined"]
    )
