"""Stage glue for rules/report.smk: tables and figures."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("randsae")


def tables(
    metric_jsons: list[str],
    latent_csvs: list[str],
    score_jsons: list[str],
    init_jsons: list[str],
    out_metrics: str,
    out_autointerp: str,
    out_abstractness: str,
    out_density: str,
    out_llm_cost: str | None = None,
) -> None:
    from randsae.report.aggregate import (
        abstractness_table,
        autointerp_table,
        density_table,
        n_params_by_model,
        sae_metrics_table,
    )

    n_params = n_params_by_model(init_jsons)
    Path(out_metrics).parent.mkdir(parents=True, exist_ok=True)
    sae_metrics_table(metric_jsons, n_params).to_csv(out_metrics, index=False)
    autointerp_table(score_jsons, n_params).to_csv(out_autointerp, index=False)
    abstractness_table(metric_jsons, latent_csvs, n_params).to_csv(out_abstractness, index=False)
    density_table(metric_jsons, n_params).to_csv(out_density, index=False)
    if out_llm_cost is not None:
        from randsae.autointerp.llm import aggregate_costs

        # each cell's ledger sits next to its scores (written by the Claude backend only)
        ledgers = [
            p
            for p in (Path(s).parent / "state" / "ledger.jsonl" for s in score_jsons)
            if p.exists()
        ]
        aggregate_costs(ledgers).to_csv(out_llm_cost, index=False)


FIGURE_METRICS = {
    "explained_variance": "explained variance",
    "ce_loss_score": "CE loss score (recovered)",
    "ce_loss_increase": "CE loss increase (nats)",
    "kl_div_score": "KL divergence score",
    "l0": "L0",
    "frac_dead": "dead latent fraction",
}
ROC_SCORERS = ("detection", "fuzzing")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_csv(df: Any, path: str | Path) -> None:
    atomic_write_text(path, df.to_csv(index=False))


def figure_targets(
    fig_dir: str,
    scorers: list[str],
    formats: list[str],
    init_sweep: bool = False,
    models: list[str] | None = None,
) -> list[str]:
    """Every LM figure file of a run (the report rules' outputs with their wildcards filled)."""
    names = [f"sae_{m}_vs_layer" for m in FIGURE_METRICS]
    names += ["sae_density_histograms", "abstractness_vs_layer"]
    names += [
        f"autointerp_{s}{c}_auroc_vs_layer" for s in scorers for c in ("", "_random_explanation")
    ]
    if init_sweep:
        names.append("init_sweep")
    for model in models or []:
        names += [f"roc_{s}_{model}" for s in scorers if s in ROC_SCORERS]
        if "fuzzing" in scorers:
            names.append(f"entropy_vs_fuzzing_auroc_{model}")
    if models:
        names.append("fig2_grid")
    return [f"{fig_dir}/{n}.{ext}" for n in names for ext in [*formats, "csv"]]


def plot_sae_metrics(
    sae_metrics_csv: str, metrics: list[str], fig_dir: str, formats: list[str]
) -> None:
    """``fig_dir/sae_<metric>_vs_layer`` for each metric."""
    import pandas as pd

    from randsae.report.plotting import metric_vs_layer

    sm = pd.read_csv(sae_metrics_csv)
    for metric in metrics:
        metric_vs_layer(
            sm,
            metric,
            f"{fig_dir}/sae_{metric}_vs_layer",
            ylabel=FIGURE_METRICS.get(metric, metric),
            formats=formats,
        )


def plot_density_histograms(density_csv: str, out_base: str, formats: list[str]) -> None:
    import pandas as pd

    from randsae.report.plot_metrics import plot_density_histograms as plot

    plot(pd.read_csv(density_csv), out_base, formats)


def plot_abstractness(abstractness_csv: str, out_base: str, formats: list[str]) -> None:
    import pandas as pd

    from randsae.report.plot_metrics import plot_abstractness as plot

    ab = pd.read_csv(abstractness_csv)
    plot(ab[ab["row"] == "summary"], out_base, formats)


def plot_autointerp_auroc(
    autointerp_csv: str, scorers: list[str], fig_dir: str, formats: list[str]
) -> None:
    """``fig_dir/autointerp_<scorer>_auroc_vs_layer``: pooled elicited-probability AUROC vs layer
    of each scorer (``fuzzing``, ``detection`` and their ``*_random_explanation`` controls)."""
    import pandas as pd

    from randsae.report.plotting import metric_vs_layer

    ai = pd.read_csv(autointerp_csv)
    for scorer in scorers:
        metric_vs_layer(
            ai[ai["scorer"] == scorer],
            "auroc_pooled",
            f"{fig_dir}/autointerp_{scorer}_auroc_vs_layer",
            ylabel=f"{scorer.replace('_', ' ')}: elicited-probability AUROC",
            ci=("auroc_pooled_ci_low", "auroc_pooled_ci_high"),
            formats=formats,
            chance=0.5,
        )


def plot_init_sweep(
    sae_metrics_csv: str, abstractness_csv: str, out_base: str, formats: list[str]
) -> None:
    import pandas as pd

    from randsae.report.plotting import init_sweep_figure

    ab = pd.read_csv(abstractness_csv)
    init_sweep_figure(
        pd.read_csv(sae_metrics_csv), ab[ab["row"] == "summary"], out_base, formats=formats
    )


def latent_table(
    cells: list[tuple[str, str, int]],
    examples_jsons: list[str],
    windows_jsonls: list[str],
    held_out_csvs: list[str],
    n_bootstrap: int,
    seed: int,
    out_latents: str,
    out_roc: str,
) -> None:
    """results/tables/latents.csv (randsae.report.latents.latent_table) and roc_curves.csv (every
    pooled ROC curve with its AUC and bootstrap CI), both from the per-window score rows."""
    from randsae.report.latents import latent_table as build
    from randsae.report.roc import read_windows, roc_table

    windows = read_windows([(*c, p) for c, p in zip(cells, windows_jsonls, strict=True)])
    df = build(cells, examples_jsons, windows, held_out_csvs)
    log.info("latents: %d rows, %d cells", len(df), len(cells))
    _atomic_csv(df, out_latents)
    roc_windows = windows[windows["scorer"].isin(ROC_SCORERS)]
    _atomic_csv(roc_table(roc_windows, n_bootstrap, seed), out_roc)


def plot_roc_curves(
    roc_csv: str, model: str, scorers: list[str], fig_dir: str, formats: list[str]
) -> None:
    """``fig_dir/roc_<scorer>_<model>`` for each scorer (v2 Figs 1, 6-14)."""
    import pandas as pd

    from randsae.report.roc import plot_roc_curves as plot

    roc = pd.read_csv(roc_csv)
    for scorer in scorers:
        sub = roc[(roc["model"] == model) & (roc["scorer"] == scorer)]
        plot(
            sub,
            f"{fig_dir}/roc_{scorer}_{model}",
            title=f"{model}: {scorer} ROC, pooled over latents",
            formats=formats,
        )


def plot_fig2_grid(
    sae_metrics_csv: str,
    autointerp_csv: str,
    latents_csv: str,
    models_cfg: dict[str, Any],
    n_bootstrap: int,
    seed: int,
    out_base: str,
    formats: list[str],
) -> None:
    """The Fig-2 grid; SAE variants of a model (``models.<m>.variant_of``) become columns, or
    bands when they differ only by seed (randsae.report.grid.variant_columns)."""
    import pandas as pd

    from randsae.report.grid import grid_long_table, plot_grid, variant_columns
    from randsae.report.latents import entropy_summary

    sm = pd.read_csv(sae_metrics_csv)
    order = list(dict.fromkeys(sm.sort_values("n_params", kind="stable")["model"]))
    columns = variant_columns(models_cfg)
    long = grid_long_table(
        sm,
        pd.read_csv(autointerp_csv),
        entropy_summary(pd.read_csv(latents_csv), n_bootstrap, seed),
    )
    plot_grid(
        long,
        out_base,
        columns=columns,
        column_order=list(dict.fromkeys(columns.get(m, m) for m in order)),
        formats=formats,
    )


def plot_entropy_vs_auroc(latents_csv: str, model: str, out_base: str, formats: list[str]) -> None:
    import pandas as pd

    from randsae.report.latents import plot_entropy_vs_auroc as plot

    lat = pd.read_csv(latents_csv)
    plot(
        lat[lat["model"] == model],
        out_base,
        title=f"{model}: token entropy vs fuzzing AUROC per latent",
        formats=formats,
    )


def compute_table(bench_root: str, models: list[str], n_variants: int, out_csv: str) -> None:
    """results/tables/compute.csv from every benchmark file under ``bench_root`` (Table 1)."""
    from randsae.report.compute import compute_table as build
    from randsae.report.compute import read_benchmarks

    paths = sorted(Path(bench_root).rglob("*.tsv")) if Path(bench_root).is_dir() else []
    bench = read_benchmarks(paths, bench_root, models)
    _atomic_csv(build(bench, n_variants), out_csv)
