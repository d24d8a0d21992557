"""Stage glue for rules/tables.smk: the result tables, the claims and the manifest."""

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
    from randsae.tables.aggregate import (
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
        from randsae.autointerp.llm.costs import aggregate_costs

        # each cell's ledger sits next to its scores (written by the Claude backend only)
        ledgers = [
            p
            for p in (Path(s).parent / "state" / "ledger.jsonl" for s in score_jsons)
            if p.exists()
        ]
        aggregate_costs(ledgers).to_csv(out_llm_cost, index=False)


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
    """results/tables/latents.csv (randsae.tables.latents.latent_table) and roc_curves.csv (every
    pooled ROC curve with its AUC and bootstrap CI), both from the per-window score rows."""
    from randsae.autointerp.measures import ROC_SCORERS
    from randsae.tables.latents import latent_table as build
    from randsae.tables.roc import read_windows, roc_table

    windows = read_windows([(*c, p) for c, p in zip(cells, windows_jsonls, strict=True)])
    df = build(cells, examples_jsons, windows, held_out_csvs)
    log.info("latents: %d rows, %d cells", len(df), len(cells))
    io.write_csv(df, out_latents)
    roc_windows = windows[windows["scorer"].isin(ROC_SCORERS)]
    io.write_csv(roc_table(roc_windows, n_bootstrap, seed), out_roc)


def compute_table(bench_root: str, models: list[str], n_variants: int, out_csv: str) -> None:
    """results/tables/compute.csv from every benchmark file under ``bench_root`` (Table 1)."""
    from randsae.tables.compute import compute_table as build
    from randsae.tables.compute import read_benchmarks

    paths = sorted(Path(bench_root).rglob("*.tsv")) if Path(bench_root).is_dir() else []
    bench = read_benchmarks(paths, bench_root, models)
    io.write_csv(build(bench, n_variants), out_csv)


def manifest(
    artifacts: list[str], patterns: dict[str, str], out_tsv: str, persistence: str = "file"
) -> None:
    """The artifact manifest: every output with its rule, params digest, size and sha256.
    ``persistence``: the run's Snakemake persistence backend (only ``file`` is readable)."""
    from randsae.provenance import git_commit, package_versions
    from randsae.tables.manifest import (
        manifest_rows,
        persistence_error,
        read_snakemake_metadata,
        slurm_job_ids,
        write_manifest,
    )

    err = persistence_error(persistence)
    if err:
        raise RuntimeError(err)

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
    windows_jsonls: list[str] | None = None,
    cells: list[tuple[str, str, int]] | None = None,
) -> None:
    """claims.csv (the paper's eight claims on this run) and distinguishability.csv.

    ``windows_jsonls`` (one per cell of ``cells``): the score rule's per-window rows, from which
    the AUROC claims take the cells' pooled AUROC with a bootstrap over latents."""
    import pandas as pd

    from randsae.tables.claims import claims_table
    from randsae.tables.distinguishability import distinguishability_table
    from randsae.tables.roc import read_windows

    sm = pd.read_csv(sae_metrics_csv)
    ai = pd.read_csv(autointerp_csv)
    lat = pd.read_csv(latents_csv) if latents_csv else None
    if lat is None:
        log.info("no per-latent table: AUROC claims use pooled AUROC, entropy claims untestable")
    toy = pd.concat([pd.read_csv(p) for p in toy_csvs], ignore_index=True) if toy_csvs else None
    windows = None
    if windows_jsonls:
        windows = read_windows([(*c, p) for c, p in zip(cells, windows_jsonls, strict=True)])
    table = claims_table(sm, ai, lat, toy, n_boot=n_boot, seed=seed, windows=windows)
    dist = distinguishability_table(sm, ai, lat, n_boot=n_boot, n_perm=n_boot, seed=seed)
    for df, out in ((table, out_claims), (dist, out_distinguishability)):
        io.write_csv(df, out)
    for r in table.itertuples(index=False):
        log.info("claim %s (%s): %s = %.4g -> %s", r.sub, r.model, r.statistic, r.value, r.verdict)
