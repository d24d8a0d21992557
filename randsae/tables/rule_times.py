"""Per-rule time breakdown of a run from its Snakemake ``benchmark:`` files.

Every rule writes ``benchmarks/runs/<rule>.tsv`` or ``benchmarks/runs/<rule>/<wildcards>.tsv``
(one row per repeat: ``s``, ``max_rss``, ``cpu_time``, ...); the rule is the first path part.
A benchmark file is written when its job ends, so ``mtime - s`` is the job's start and the span
from the first start to the last end is the run's wall time (jobs that ran are counted; a rerun
of a part of the DAG covers only that part).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["rule", "jobs", "total_s", "mean_s", "max_s", "cpu_s", "max_rss_mb", "share"]


def read_benchmarks(run_dir: str | Path) -> pd.DataFrame:
    """One row per job: rule, path, s, cpu_time, max_rss, start, end (epoch seconds)."""
    root = Path(run_dir) / "benchmarks" / "runs"
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        rel = path.relative_to(root)
        rule = rel.parts[0].removesuffix(".tsv")
        df = pd.read_csv(path, sep="\t")
        if df.empty:
            continue
        rec = df.iloc[0]  # repeats beyond the first are not used by this workflow
        end = path.stat().st_mtime
        s = float(rec["s"])
        rows.append(
            {
                "rule": rule,
                "path": str(rel),
                "s": s,
                "cpu_time": float(pd.to_numeric(rec.get("cpu_time"), errors="coerce")),
                "max_rss": float(pd.to_numeric(rec.get("max_rss"), errors="coerce")),
                "start": end - s,
                "end": end,
            }
        )
    if not rows:
        raise ValueError(f"no benchmark files under {root}")
    return pd.DataFrame(rows)


def rule_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per-rule jobs, total/mean/max seconds, CPU seconds, peak RSS and share of all job-seconds."""
    g = jobs.groupby("rule")
    table = pd.DataFrame(
        {
            "jobs": g.size(),
            "total_s": g["s"].sum(),
            "mean_s": g["s"].mean(),
            "max_s": g["s"].max(),
            "cpu_s": g["cpu_time"].sum(min_count=1),
            "max_rss_mb": g["max_rss"].max(),
        }
    )
    table["share"] = table["total_s"] / table["total_s"].sum()
    return table.reset_index().sort_values("total_s", ascending=False)[COLUMNS]


def wall_span(jobs: pd.DataFrame) -> float:
    """Seconds from the first job's start to the last job's end."""
    return float(jobs["end"].max() - jobs["start"].min())


def format_report(jobs: pd.DataFrame) -> str:
    table = rule_table(jobs)
    lines = [table.to_string(index=False, float_format=lambda v: f"{v:.2f}")]
    lines.append(
        f"\n{len(jobs)} jobs, {jobs['s'].sum():.1f} job-seconds, "
        f"wall span {wall_span(jobs):.1f} s (first start to last end)"
    )
    return "\n".join(lines)
