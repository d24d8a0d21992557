"""The reviewer path's spot check: chosen cells re-evaluated from the downloaded SAEs.

Each recomputed ``results/recompute/{model}/{init}/layer{L}.json`` (the ``eval_sae`` metrics of
the cell, computed again on this machine) is set beside the published
``results/metrics/{model}/{init}/layer{L}.json``, metric by metric: every numeric scalar the two
share. A metric agrees when ``|recomputed - published| <= atol + rtol * |published|``
(``artifacts.rtol``/``atol``; both NaN agrees too). Same device and dtype reproduce a cell to
float rounding; CPU against GPU, or another torch build, differ by about 1e-3 relative.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from randsae import io

log = logging.getLogger("randsae")

COLUMNS = [
    "model",
    "init",
    "layer",
    "metric",
    "published",
    "recomputed",
    "abs_diff",
    "rel_diff",
    "rtol",
    "atol",
    "within_tolerance",
]
#: Scalars that identify the cell or its settings rather than measure the SAE.
IDENTITY = {"layer", "d_vocab"}


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def compare_cell(
    published: Mapping[str, Any], recomputed: Mapping[str, Any], rtol: float, atol: float
) -> list[dict[str, Any]]:
    """One row per numeric scalar both metric records hold (see the module doc)."""
    rows = []
    for key in sorted(set(published) & set(recomputed) - IDENTITY):
        a, b = published[key], recomputed[key]
        if not (_number(a) and _number(b)):
            continue
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            diff, ok = math.nan, math.isnan(a) and math.isnan(b)
        else:
            diff = abs(b - a)
            ok = diff <= atol + rtol * abs(a)
        rows.append(
            {
                "metric": key,
                "published": a,
                "recomputed": b,
                "abs_diff": diff,
                "rel_diff": diff / abs(a) if a != 0.0 and not math.isnan(diff) else math.nan,
                "rtol": rtol,
                "atol": atol,
                "within_tolerance": ok,
            }
        )
    return rows


def spot_check_table(
    cell_keys: Sequence[tuple[str, str, int]],
    published_jsons: Sequence[str],
    recomputed_jsons: Sequence[str],
    rtol: float,
    atol: float,
    out_csv: str,
) -> pd.DataFrame:
    """``results/tables/recompute.csv``: every compared metric of every recomputed cell."""
    rows = []
    for key, pub, new in zip(cell_keys, published_jsons, recomputed_jsons, strict=True):
        model, init, layer = key
        for r in compare_cell(io.read_json(pub), io.read_json(new), rtol, atol):
            rows.append({"model": model, "init": init, "layer": int(layer), **r})
    df = pd.DataFrame(rows, columns=COLUMNS)
    io.write_csv(df, out_csv)
    bad = df[~df["within_tolerance"].astype(bool)]
    if len(bad):
        log.warning(
            "spot check: %d of %d metrics outside tolerance (rtol %g, atol %g): %s",
            len(bad),
            len(df),
            rtol,
            atol,
            ", ".join(f"{r.model}/{r.init}/layer{r.layer} {r.metric}" for r in bad.itertuples()),
        )
    else:
        log.info("spot check: all %d metrics of %d cells within tolerance", len(df), len(cell_keys))
    return df
