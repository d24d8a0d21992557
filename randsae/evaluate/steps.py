"""Stage glue for rules/evaluate.smk: SAE metrics, abstractness, latent examples."""

from __future__ import annotations

from typing import Any

from randsae.evaluate.cell import Cell, eval_sae, latent_examples
from randsae.sections import EvalConfig, ExamplesConfig, InitConfig, ModelSource


def eval_cell(
    *,
    model_cfg: ModelSource,
    init_cfg: InitConfig,
    init: str,
    layer: int,
    eval_cfg: EvalConfig,
    examples_cfg: ExamplesConfig,
    context_size: int,
    seed: int,
    sae_dir: str,
    tokens_val: str,
    tokenizer_path: str,
    out_json: str,
    out_latents: str,
    out_examples: str,
    device: str,
    init_json: str | None = None,
) -> None:
    """One cell evaluated on its own: :func:`~randsae.evaluate.cell.eval_sae`, then
    :func:`~randsae.evaluate.cell.latent_examples`, in one process (the ``eval_group`` job
    runs the same :func:`eval_opened` for each layer of a (model, init)).

    The model stack is imported, and the (model, init) built, its weights digest checked and the
    SAE read, once for both; the examples get the model with their own noise stream
    (:meth:`~randsae.models.inits.LoadedModel.with_stream`) and their own seed, so the outputs
    are those of the two stages run apart.
    """
    cell = Cell(model_cfg, init_cfg, init, layer, sae_dir, tokens_val, device, init_json)
    eval_opened(
        cell, cell.model("eval"), eval_cfg, examples_cfg, context_size, seed, tokenizer_path,
        out_json, out_latents, out_examples,
    )  # fmt: skip


def eval_opened(
    cell: Cell,
    model: tuple[Any, Any],
    eval_cfg: EvalConfig,
    examples_cfg: ExamplesConfig,
    context_size: int,
    seed: int,
    tokenizer_path: str,
    out_json: str,
    out_latents: str,
    out_examples: str,
) -> None:
    """Both halves of a cell on an already built ``(device, model)``: the metrics with the
    ``eval`` noise stream, the examples with the ``examples`` one (each stream's hooks fresh), so
    one process can evaluate several layers of a (model, init)
    (:func:`randsae.evaluate.group.eval_group`) with the outputs of separate processes."""
    from randsae.sae.families import load_sae

    dev, lm = model
    sae = load_sae(cell.sae_dir, device=dev)
    eval_sae(
        cell,
        eval_cfg,
        context_size,
        out_json,
        out_latents,
        opened=(dev, lm.with_stream("eval"), sae),
    )
    examples = (dev, lm.with_stream("examples"), sae)
    latent_examples(
        cell, examples_cfg, eval_cfg, seed, tokenizer_path, out_examples, opened=examples
    )
