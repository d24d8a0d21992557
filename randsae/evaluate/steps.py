"""Stage glue for rules/evaluate.smk: SAE metrics, abstractness, latent examples."""

from __future__ import annotations

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
    """The ``eval_sae`` job: :func:`~randsae.evaluate.cell.eval_sae`, then
    :func:`~randsae.evaluate.cell.latent_examples` on the same cell, in one process.

    The model stack is imported, and the (model, init) built, its weights digest checked and the
    SAE read, once for both; the examples get the model with their own noise stream
    (:meth:`~randsae.models.inits.LoadedModel.with_stream`) and their own seed, so the outputs
    are those of the two stages run apart.
    """
    cell = Cell(model_cfg, init_cfg, init, layer, sae_dir, tokens_val, device, init_json)
    dev, lm, sae = opened = cell.open("eval")
    eval_sae(cell, eval_cfg, context_size, out_json, out_latents, opened=opened)
    examples = (dev, lm.with_stream("examples"), sae)
    latent_examples(
        cell, examples_cfg, eval_cfg, seed, tokenizer_path, out_examples, opened=examples
    )
