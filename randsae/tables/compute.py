"""Table 1 (v2 App K): the compute each run really used, from Snakemake's ``benchmark:`` files.

Every expensive rule writes ``benchmarks/runs/<rule>/<model>/...tsv`` (columns ``s``, ``max_rss``
in MB, ``cpu_time`` in s, ...). The table sums them per rule and model and sets the paper's
Table 1 (hours per variant on one A100 80GB) beside the run's own hours per variant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

PAPER_HOURS_PER_VARIANT = {
    "pythia-6.9b": 70.0,
    "pythia-1b": 10.0,
    "pythia-410m": 5.0,
    "pythia-160m": 1.0,
    "pythia-70m": 1.0,
}
"""v2 Table 1: GPU hours per variant (5 variants: 435 h in all)."""

COMPUTE_COLUMNS = [
    "rule",
    "model",
    "n_jobs",
    "wall_s",
    "cpu_s",
    "max_rss_mb",
    "wall_h_per_variant",
    "paper_h_per_variant",
]


def paper_hours(model: str) -> float:
    """The paper's hours per variant for a Pythia model name (deduped or not); NaN otherwise."""
    m = re.search(r"pythia-(\d+(?:\.\d+)?[mb])", model)
    return PAPER_HOURS_PER_VARIANT.get(f"pythia-{m.group(1)}", np.nan) if m else np.nan


def read_benchmarks(paths: Iterable[str | Path], root: str | Path, models: Sequence[str]):
    """One row per benchmark file: rule (the directory under ``root``), model (the next path part
    when it names a configured model, else ``-``), and the file's s, cpu_time, max_rss (the last
    row when a job was repeated)."""
    rows = []
    for p in paths:
        rel = Path(p).relative_to(root)
        parts = rel.with_suffix("").parts
        rule = parts[0]
        model = next((x for x in parts[1:] if x in models), "-")
        df = pd.read_csv(p, sep="\t")
        if df.empty:
            continue
        last = df.iloc[-1]
        rows.append(
            {
                "rule": rule,
                "model": model,
                "s": float(last["s"]),
                "cpu_time": float(last.get("cpu_time", np.nan)),
                "max_rss": pd.to_numeric(last.get("max_rss", np.nan), errors="coerce"),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "model", "s", "cpu_time", "max_rss"])


def compute_table(bench: pd.DataFrame, n_variants: int) -> pd.DataFrame:
    """Table 1: per (rule, model) jobs, wall and CPU seconds summed, peak RSS; then one
    ``rule == "total"`` row per model with wall hours per variant (total / ``n_variants``) and
    the paper's hours per variant beside it (NaN for models the paper did not run)."""
    rows = []
    for (rule, model), g in bench.groupby(["rule", "model"], sort=True):
        rows.append(
            {
                "rule": rule,
                "model": model,
                "n_jobs": len(g),
                "wall_s": g["s"].sum(),
                "cpu_s": g["cpu_time"].sum(min_count=1),
                "max_rss_mb": g["max_rss"].max(),
                "wall_h_per_variant": np.nan,
                "paper_h_per_variant": np.nan,
            }
        )
    for model, g in bench[bench["model"] != "-"].groupby("model", sort=True):
        rows.append(
            {
                "rule": "total",
                "model": model,
                "n_jobs": len(g),
                "wall_s": g["s"].sum(),
                "cpu_s": g["cpu_time"].sum(min_count=1),
                "max_rss_mb": g["max_rss"].max(),
                "wall_h_per_variant": g["s"].sum() / 3600.0 / max(1, n_variants),
                "paper_h_per_variant": paper_hours(model),
            }
        )
    out = pd.DataFrame(rows, columns=COMPUTE_COLUMNS)
    return out.round({"wall_s": 2, "cpu_s": 2, "max_rss_mb": 1, "wall_h_per_variant": 4})
