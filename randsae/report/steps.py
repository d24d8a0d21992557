"""Stage glue for rules/report.smk: tables and figures."""

from __future__ import annotations

import logging
from pathlib import Path

from randsae import io

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
        from randsae.autointerp.llm_costs import aggregate_costs

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


def manifest(artifacts: list[str], patterns: dict[str, str], out_tsv: str) -> None:
    """The artifact manifest: every output with its rule, params digest, size and sha256."""
    from randsae.provenance import git_commit, package_versions
    from randsae.report.manifest import (
        manifest_rows,
        read_snakemake_metadata,
        slurm_job_ids,
        write_manifest,
    )

    rows = manifest_rows(
        list(artifacts),
        read_snakemake_metadata(".snakemake/metadata"),
        dict(patterns),
        git=git_commit(),
        packages=package_versions(),
        slurm_jobs=slurm_job_ids(".snakemake/slurm_logs"),
    )
    write_manifest(rows, out_tsv)
    unknown = [r["path"] for r in rows if r["rule"] == "unknown"]
    log.info(
        "manifest: %d artifacts, %d without Snakemake metadata %s",
        len(rows),
        len(unknown),
        unknown[:5],
    )


def claims(
    sae_metrics_csv: str,
    autointerp_csv: str,
    latents_csv: str | None,
    toy_csvs: list[str],
    out_claims: str,
    out_distinguishability: str,
    n_boot: int,
    seed: int,
) -> None:
    """claims.csv (the paper's eight claims on this run) and distinguishability.csv."""
    import pandas as pd

    from randsae.report.claims import claims_table
    from randsae.report.distinguishability import distinguishability_table

    sm = pd.read_csv(sae_metrics_csv)
    ai = pd.read_csv(autointerp_csv)
    lat = pd.read_csv(latents_csv) if latents_csv else None
    if lat is None:
        log.info("no per-latent table: AUROC claims use pooled AUROC, entropy claims untestable")
    toy = pd.concat([pd.read_csv(p) for p in toy_csvs], ignore_index=True) if toy_csvs else None
    table = claims_table(sm, ai, lat, toy, n_boot=n_boot, seed=seed)
    dist = distinguishability_table(sm, ai, lat, n_boot=n_boot, n_perm=n_boot, seed=seed)
    for df, out in ((table, out_claims), (dist, out_distinguishability)):
        io.write_csv(df, out)
    for r in table.itertuples(index=False):
        log.info("claim %s (%s): %s = %.4g -> %s", r.sub, r.model, r.statistic, r.value, r.verdict)
