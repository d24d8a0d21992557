"""Helpers shared by the workflow tests (not a test module)."""

from __future__ import annotations

import re
from collections import Counter


def job_stats(text: str) -> Counter:
    """Job counts per rule from the first 'Job stats' table of snakemake's output (empty if none)."""
    if "Job stats:" not in text:
        return Counter()
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts: Counter = Counter()
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def report_job_counts(cfg: dict) -> Counter:
    """Jobs of the report rules (tables and one rule per figure family) for a fresh run."""
    from randsae.report.steps import ROC_SCORERS

    models, scorers = cfg["models"], cfg["autointerp"]["scorers"]
    jobs = Counter(
        tables=1,
        latent_table=1,
        compute_table=1,
        app_j_examples=1,
        plot_sae_metrics=1,
        plot_density_histograms=1,
        plot_abstractness=1,
        plot_autointerp_auroc=1,
        plot_init_sweep=int(any("-" in i for i in cfg["inits"])),
        plot_roc_curves=len(models) * int(bool(set(scorers) & set(ROC_SCORERS))),
        plot_entropy_vs_auroc=len(models) * int("fuzzing" in scorers),
        plot_fig2_grid=1,
    )
    return +jobs
