"""Tables: CE/KL scores with near-zero denominators are flagged (raw values kept) and drawn off
the line; abstractness histograms share one range across cells.

Run: ``pytest tests/test_report_tables.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from randsae.figures.plotting import metric_vs_layer
from randsae.tables.aggregate import (
    SCORE_DENOMINATOR_MIN,
    abstractness_table,
    flag_small_denominators,
    sae_metrics_table,
)


def _metrics(tmp_path, d_vocab=1000):
    paths = []
    # (ce_ablate - ce_clean, kl_ablate) per layer: layer 1 is a "random model" cell
    cases = [(2.0, 1.5), (0.01, 0.002), (float("nan"), 0.3), (-0.35, 0.4)]
    for layer, (ce_den, kl_den) in enumerate(cases):
        rec = {
            "model": "m",
            "init": "step0",
            "layer": layer,
            "ce_loss_without_sae": 5.0,
            "ce_loss_with_ablation": 5.0 + ce_den,
            "ce_loss_with_sae": 5.0 + ce_den / 4,
            "ce_loss_score": 0.75,
            "kl_div_with_ablation": kl_den,
            "kl_div_with_sae": kl_den / 2,
            "kl_div_score": 0.5,
            "arrays": {},
        }
        if d_vocab:
            rec["d_vocab"] = d_vocab
        p = tmp_path / f"layer{layer}.json"
        p.write_text(json.dumps(rec))
        paths.append(p)
    return paths


def test_small_denominators_are_flagged_and_raw_values_kept(tmp_path):
    df = sae_metrics_table(_metrics(tmp_path), {"m": 10})
    # NaN and a negative denominator (ablation lowers the loss) count as flagged
    assert df["ce_loss_score_flagged"].tolist() == [False, True, True, True]
    assert df["kl_div_score_flagged"].tolist() == [False, True, False, False]
    np.testing.assert_allclose(df["ce_loss_score_denominator"][:2], [2.0, 0.01])
    assert (df["ce_loss_score"] == 0.75).all() and (df["kl_div_score"] == 0.5).all()
    # threshold boundary: exactly the threshold is not flagged
    edge = pd.DataFrame({"kl_div_with_ablation": [SCORE_DENOMINATOR_MIN]})
    assert not flag_small_denominators(edge)["kl_div_score_flagged"].iloc[0]


def test_flagged_points_are_drawn_off_the_line(tmp_path):
    df = sae_metrics_table(_metrics(tmp_path), {"m": 10})
    fig = metric_vs_layer(df, "ce_loss_score", tmp_path / "fig", formats=["png"])
    ax = fig.get_axes()[0]
    line = ax.get_lines()[0]
    ys = np.asarray(line.get_ydata(), dtype=float)
    assert ys[0] == 0.75 and np.isnan(ys[1:]).all()
    (open_markers,) = ax.collections
    np.testing.assert_allclose(open_markers.get_offsets(), [[1, 0.75], [2, 0.75], [3, 0.75]])
    csv = pd.read_csv(tmp_path / "fig.csv")
    assert csv["ce_loss_score_flagged"].tolist() == [False, True, True, True]
    assert (csv["ce_loss_score"] == 0.75).all()


def test_abstractness_histogram_range_is_the_same_for_every_cell(tmp_path):
    paths, csvs = _metrics(tmp_path)[:2], []
    for i in range(len(paths)):
        lat = pd.DataFrame(
            {
                "entropy_all": np.linspace(0.1, 1.0 + 3 * i, 50),
                "entropy_weighted": np.linspace(0.1, 2.0, 50),
                "entropy_topN": np.linspace(0.0, 1.5 * (i + 1), 50),
                "token_r2": np.linspace(-0.2, 0.9, 50),
                "n_active": np.arange(50) + 5 * i,
            }
        )
        csvs.append(tmp_path / f"lat{i}.csv")
        lat.to_csv(csvs[-1], index=False)
    ab = abstractness_table(paths, csvs, {"m": 10}, n_bins=10)
    hist = ab[ab["row"] == "hist"]
    for measure, hi in [("entropy_all", np.log(1000)), ("entropy_topN", np.log(1000))]:
        h = hist[hist["measure"] == measure]
        for _layer, cell in h.groupby("layer"):
            assert cell["bin_lo"].min() == 0.0 and cell["bin_hi"].max() == pytest.approx(hi)
    r2 = hist[hist["measure"] == "token_r2"]
    assert r2["bin_hi"].max() == 1.0 and r2.groupby("layer")["count"].sum().tolist() == [50, 50]


def test_abstractness_table_needs_d_vocab(tmp_path):
    paths = _metrics(tmp_path, d_vocab=None)
    lat = tmp_path / "lat.csv"
    pd.DataFrame({"entropy_all": [0.5]}).to_csv(lat, index=False)
    with pytest.raises(ValueError, match=r"layer0\.json .*no d_vocab.*--forcerun eval_key"):
        abstractness_table(paths, [lat] * len(paths), {"m": 10})
