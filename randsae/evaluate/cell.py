"""One cell of the evaluation stage: the SAE quality metrics and abstractness measures, and the
latent examples, on held-out tokens (the ``eval_sae`` job runs both on one loaded model)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from randsae import io
from randsae.sections import EvalConfig, ExamplesConfig, InitConfig, ModelSource
from randsae.seeds import stable_seed

log = logging.getLogger("randsae")


@dataclass(frozen=True)
class Cell:
    """One (model, init, layer) cell of the evaluation stage: the model it rebuilds, the SAE and
    held-out tokens it reads, where it runs."""

    model_cfg: ModelSource
    init_cfg: InitConfig
    init: str
    layer: int
    sae_dir: str
    tokens_val: str
    device: str
    init_json: str | None = None

    def open(self, noise_stream: str) -> tuple[Any, Any, Any]:
        """Device, the (model, init) variant (this noise stream; its weights digest checked
        against ``init_json``) and the cell's SAE, on that device."""
        from randsae.sae.families import load_sae

        dev, lm = self.model(noise_stream)
        return dev, lm, load_sae(self.sae_dir, device=dev)

    def model(self, noise_stream: str) -> tuple[Any, Any]:
        """Device and the (model, init) variant, without the SAE (:meth:`open`)."""
        from randsae.models.inits import load_model
        from randsae.models.neox import resolve_device

        dev = resolve_device(self.device)
        lm = load_model(
            self.model_cfg,
            self.init_cfg,
            self.init,
            device=dev,
            noise_stream=noise_stream,
            init_json=self.init_json,
        )
        return dev, lm


def eval_sae(
    cell: Cell,
    eval_cfg: EvalConfig,
    context_size: int,
    out_json: str,
    out_latents: str,
    *,
    opened: tuple[Any, Any, Any] | None = None,
) -> None:
    """SAE quality metrics and abstractness measures from the same held-out forward passes
    (sequences of ``context_size`` tokens: ``activations.context_size``, the SAE's training
    context).

    ``opened``: the cell's ``(device, model, SAE)`` (:meth:`Cell.open`) with the ``eval`` noise
    stream, when the caller has loaded them already."""
    import pandas as pd

    from randsae.data.corpus import sequences
    from randsae.evaluate.abstractness import AbstractnessAccumulator, summarize_abstractness
    from randsae.evaluate.metrics import evaluate_sae

    dev, lm, sae = opened or cell.open("eval")
    ev = eval_cfg
    seqs = sequences(np.load(cell.tokens_val), context_size, ev.n_tokens)
    acc = AbstractnessAccumulator(
        int(sae.d_sae),
        lm.model.cfg.d_vocab,
        top_n=ev.entropy_top_n,
        r2_min_count=ev.r2_min_count,
        device=dev,
    )
    result = evaluate_sae(
        lm,
        sae,
        seqs,
        cell.layer,
        batch_size=ev.batch_size,
        device=dev,
        density_bins=ev.density_bins,
        density_log10_min=ev.density_log10_min,
        ignore_token_ids=list(ev.ignore_token_ids),
        ignore_positions=list(ev.ignore_positions),
        latent_consumers=[acc.update],
    )
    per_latent = acc.finalize(ev.abstractness_min_activations)
    pd.DataFrame({k: np.asarray(v) for k, v in per_latent.items()}).to_csv(out_latents, index=False)
    scalars = {k: v for k, v in result.items() if np.isscalar(v)}
    arrays = {
        k: v for k, v in result.items() if not np.isscalar(v) and k.startswith("density_hist")
    }
    io.write_json(
        out_json,
        io.to_data(
            {
                "model": cell.model_cfg.name,
                "init": cell.init,
                "layer": cell.layer,
                "d_vocab": int(lm.model.cfg.d_vocab),  # fixes the entropy histogram range
                # the SAE family and training normalisation (sae.architecture, sae-lens values)
                **sae_family(cell.sae_dir),
                # the positions left out of every metric, one column of sae_metrics.csv
                "ignore_token_ids": json.dumps(list(ev.ignore_token_ids)),
                "ignore_positions": json.dumps(list(ev.ignore_positions)),
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


def sae_family(sae_dir: str) -> dict[str, str]:
    """``sae_architecture`` and ``sae_normalize_activations`` the SAE was trained with (recorded
    in its ``cfg.json`` metadata by ``randsae.sae.train``; absent = the paper's TopK, none)."""
    meta = io.read_json(f"{sae_dir}/cfg.json").get("metadata") or {}
    return {
        "sae_architecture": meta.get("sae_architecture", "topk"),
        "sae_normalize_activations": meta.get("sae_normalize_activations", "none"),
    }


def latent_examples(
    cell: Cell,
    examples_cfg: ExamplesConfig,
    eval_cfg: EvalConfig,
    seed: int,
    tokenizer_path: str,
    out_json: str,
    *,
    opened: tuple[Any, Any, Any] | None = None,
) -> None:
    """The cell's latent codes on held-out text, the chosen latents and their example windows
    (forward passes of ``eval.batch_size`` sequences, ``eval.ignore_token_ids`` masked).

    ``opened``: as for :func:`eval_sae`, with the ``examples`` noise stream."""
    from randsae.data.corpus import sequences
    from randsae.data.tokenizer import load_tokenizer, token_strings
    from randsae.evaluate.examples import (
        ignored_positions,
        latent_codes,
        mask_positions,
        sample_examples,
    )

    ex = examples_cfg
    model, init, layer = cell.model_cfg.name, cell.init, cell.layer
    dev, lm, sae = opened or cell.open("examples")
    seqs = sequences(np.load(cell.tokens_val), ex.context_size, ex.n_tokens)
    vals, idx = latent_codes(lm, seqs, layer, lambda x: sae.encode(x.to(dev)), eval_cfg.batch_size)
    ignore = list(eval_cfg.ignore_token_ids)
    positions = list(eval_cfg.ignore_positions)
    masked = ignored_positions(seqs, ignore, positions)
    vals = mask_positions(vals, seqs, ignore, positions)
    tok = load_tokenizer(tokenizer_path)
    result = sample_examples(
        seqs.reshape(-1),
        vals,
        idx,
        int(sae.d_sae),
        ex,
        stable_seed(seed, "examples", model, init, layer),
        lambda ids: token_strings(tok, ids),
        masked=masked if masked.any() else None,
    )
    io.write_json(
        out_json,
        {
            "model": model,
            "init": init,
            "layer": layer,
            "ignore_token_ids": ignore,
            "ignore_positions": positions,
            **result,
        },
    )
    log.info(
        "examples: %d latents chosen, %d examined", result["n_latents_chosen"], result["n_examined"]
    )
