"""Stage glue for rules/publish.smk: publish a run, the reviewer path, the Neuronpedia export."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from randsae.sections import (
        AutointerpConfig,
        EvalConfig,
        ExamplesConfig,
        InitConfig,
        ModelConfig,
        ModelSource,
        RunConfig,
    )

log = logging.getLogger("randsae")


def publish(run: RunConfig, manifest_tsv: str, expected: list[str]) -> dict[str, Any]:
    """``snakemake publish``: check the run, upload what the repo lacks (randsae.publish.upload).
    ``run``: the whole config, since publishing uploads it (its document) with the results."""
    from randsae.publish.upload import publish_run

    return publish_run(run, manifest_tsv, expected)


def fetch_artifacts(source: str, files: list[str], run: RunConfig) -> None:
    """Reviewer path: the published per-cell results into place, each sha256-checked, after
    comparing this config (``run``'s document) with the published one (randsae.publish.fetch)."""
    from randsae.publish.fetch import fetch_published

    fetch_published(source, files, run.document())


def fetch_sae(source: str, files: list[str]) -> None:
    """Reviewer path: one published SAE (cfg.json + weights) into its run directory, checked."""
    from randsae.publish.fetch import fetch_published

    fetch_published(source, files, None)


def recompute_cell(
    *,
    model_cfg: ModelSource,
    init_cfg: InitConfig,
    init: str,
    layer: int,
    eval_cfg: EvalConfig,
    context_size: int,
    sae_weights: str,
    init_json: str,
    tokens_val: str,
    out_json: str,
    out_latents: str,
    device: str,
) -> None:
    """Spot check: the cell's ``eval_sae`` metrics again, from the downloaded SAE."""
    from randsae.evaluate.cell import Cell, eval_sae

    sae_dir = str(Path(sae_weights).parent)
    cell = Cell(model_cfg, init_cfg, init, layer, sae_dir, tokens_val, device, init_json)
    eval_sae(cell, eval_cfg, context_size, out_json, out_latents)


def recompute_table(
    cells: list[list[Any]],
    published: list[str],
    recomputed: list[str],
    rtol: float,
    atol: float,
    out_csv: str,
) -> None:
    """``results/tables/recompute.csv``: recomputed against published metrics, with tolerances."""
    from randsae.publish.spotcheck import spot_check_table

    spot_check_table([tuple(c) for c in cells], published, recomputed, rtol, atol, out_csv)


def neuronpedia_export(
    cells: list[list[Any]],
    inputs: dict[str, list[str]],
    models: dict[str, ModelConfig],
    examples_cfg: ExamplesConfig,
    ai: AutointerpConfig,
    repo_url: str | None,
    out_dir: str,
) -> None:
    """``snakemake neuronpedia_export``: Neuronpedia upload payloads (randsae.publish.neuronpedia)."""
    from randsae.publish.neuronpedia import explainer_model, export

    index = export(
        [tuple(c) for c in cells],
        inputs,
        models,
        explainer_model(ai),
        examples_cfg.n_quantiles,
        repo_url,
        Path(out_dir),
    )
    log.info(
        "neuronpedia export: %d models, %d source sets, %d feature batches in %s",
        len(index["models"]),
        len(index["source_sets"]),
        len(index["batches"]),
        out_dir,
    )
