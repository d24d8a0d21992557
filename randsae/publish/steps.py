"""Stage glue for rules/publish.smk: publish a run, the reviewer path, the Neuronpedia export."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("randsae")


def publish(config: dict[str, Any], manifest_tsv: str, expected: list[str]) -> dict[str, Any]:
    """``snakemake publish``: check the run, upload what the repo lacks (randsae.publish.upload)."""
    from randsae.publish.upload import publish_run

    return publish_run(config, manifest_tsv, expected)


def fetch_artifacts(source: str, files: list[str], config: dict[str, Any]) -> None:
    """Reviewer path: the published per-cell results into place, each sha256-checked, after
    comparing this config with the published one (randsae.publish.fetch)."""
    from randsae.publish.fetch import fetch_published

    fetch_published(source, files, config)


def fetch_sae(source: str, files: list[str]) -> None:
    """Reviewer path: one published SAE (cfg.json + weights) into its run directory, checked."""
    from randsae.publish.fetch import fetch_published

    fetch_published(source, files, None)


def recompute_cell(
    cell: dict[str, Any], settings: dict[str, Any], paths: dict[str, str], device: str
) -> None:
    """Spot check: the cell's ``eval_sae`` metrics again, from the downloaded SAE.

    ``cell``: model, init, layer; ``settings``: the (model, init) load slice with the ``eval``
    section and ``activations.context_size``; ``paths``: ``sae`` (its weights), ``init`` (the
    build_init record), ``tokens`` (held-out ids), ``metrics`` and ``latents`` (the outputs).
    """
    from randsae.evaluate.steps import eval_sae

    eval_sae(
        cell["model"],
        cell["init"],
        int(cell["layer"]),
        settings,
        str(Path(paths["sae"]).parent),
        paths["tokens"],
        paths["metrics"],
        paths["latents"],
        device,
        init_json=paths["init"],
    )


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
    config: dict[str, Any],
    repo_url: str | None,
    out_dir: str,
) -> None:
    """``snakemake neuronpedia_export``: Neuronpedia upload payloads (randsae.publish.neuronpedia)."""
    from randsae.publish.neuronpedia import export

    index = export([tuple(c) for c in cells], inputs, config, repo_url, Path(out_dir))
    log.info(
        "neuronpedia export: %d models, %d source sets, %d feature batches in %s",
        len(index["models"]),
        len(index["source_sets"]),
        len(index["batches"]),
        out_dir,
    )
