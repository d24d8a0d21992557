"""Stage glue for rules/report.smk: tables and figures."""

from __future__ import annotations

import logging
from pathlib import Path

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
    out_judge_agreement: str | None = None,
) -> None:
    from randsae.report.aggregate import (
        abstractness_table,
        autointerp_table,
        density_table,
        failure_totals,
        judge_agreement_table,
        n_params_by_model,
        sae_metrics_table,
    )

    n_params = n_params_by_model(init_jsons)
    Path(out_metrics).parent.mkdir(parents=True, exist_ok=True)
    sae_metrics_table(metric_jsons, n_params).to_csv(out_metrics, index=False)
    ai = autointerp_table(score_jsons, n_params)
    ai.to_csv(out_autointerp, index=False)
    if out_judge_agreement is not None:
        judge_agreement_table(score_jsons, n_params).to_csv(out_judge_agreement, index=False)
    totals = failure_totals(ai)
    if totals["failed_explanations"] or totals["failed_windows"]:
        log.warning(
            "LLM failures over %d cells: %d failed explanations (latents left out of the scores), "
            "%d failed windows; per cell: n_failed_explanations and n_failed in %s",
            totals["cells"],
            totals["failed_explanations"],
            totals["failed_windows"],
            out_autointerp,
        )
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


def figure_targets(
    fig_dir: str, scorers: list[str], formats: list[str], init_sweep: bool = False
) -> list[str]:
    """Every figure file the ``figures`` rule writes (used by the rule's output list)."""
    names = [f"sae_{m}_vs_layer" for m in FIGURE_METRICS]
    names += ["sae_density_histograms", "abstractness_vs_layer"]
    names += [
        f"autointerp_{s}{c}_auroc_vs_layer" for s in scorers for c in ("", "_random_explanation")
    ]
    if init_sweep:
        names.append("init_sweep")
    return [f"{fig_dir}/{n}.{ext}" for n in names for ext in [*formats, "csv"]]


def figures(
    sae_metrics_csv: str,
    autointerp_csv: str,
    abstractness_csv: str,
    density_csv: str,
    fig_dir: str,
    scorers: list[str],
    formats: list[str],
    init_sweep: bool = False,
) -> None:
    import pandas as pd

    from randsae.report.plot_metrics import plot_abstractness, plot_density_histograms
    from randsae.report.plotting import init_sweep_figure, metric_vs_layer

    sm = pd.read_csv(sae_metrics_csv)
    for metric, label in FIGURE_METRICS.items():
        metric_vs_layer(
            sm, metric, f"{fig_dir}/sae_{metric}_vs_layer", ylabel=label, formats=formats
        )
    ab = pd.read_csv(abstractness_csv)
    plot_abstractness(ab[ab["row"] == "summary"], f"{fig_dir}/abstractness_vs_layer", formats)
    plot_density_histograms(pd.read_csv(density_csv), f"{fig_dir}/sae_density_histograms", formats)
    ai = pd.read_csv(autointerp_csv)
    for scorer in scorers:
        for ctrl in ("", "_random_explanation"):
            sub = ai[ai["scorer"] == scorer + ctrl]
            metric_vs_layer(
                sub,
                "auroc_pooled",
                f"{fig_dir}/autointerp_{scorer}{ctrl}_auroc_vs_layer",
                ylabel=f"{scorer}{ctrl.replace('_', ' ')}: elicited-probability AUROC",
                ci=("auroc_pooled_ci_low", "auroc_pooled_ci_high"),
                formats=formats,
            )
    if init_sweep:
        init_sweep_figure(sm, ab[ab["row"] == "summary"], f"{fig_dir}/init_sweep", formats=formats)
