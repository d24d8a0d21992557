"""Figures: files written, CSV equals the plotted data, one panel per model / line per init.

Run: ``pytest tests/test_plot_metrics.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from randsae.evaluate.abstractness import abstractness_rows
from randsae.figures.plot_metrics import plot_abstractness, plot_density_histograms
from randsae.figures.plotting import metric_vs_layer
from randsae.tables.aggregate import density_hist_rows

INITS = ["trained", "step0", "noise_control"]
MODELS = {"m-big": (2, 3), "m-small": (1, 2)}  # name -> (n_params, n_layers)


def _metrics_df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for model, (n_params, n_layers) in MODELS.items():
        for init in INITS:
            for layer in range(n_layers):
                rows.append(
                    {
                        "model": model,
                        "n_params": n_params,
                        "init": init,
                        "layer": layer,
                        "explained_variance": rng.random(),
                        "l0": 32.0,
                    }
                )
    return pd.DataFrame(rows)


def _files(base):
    return [base.with_suffix(s) for s in (".pdf", ".png", ".csv")]


def test_metric_vs_layer(tmp_path):
    df = _metrics_df()
    base = tmp_path / "ev"
    fig = metric_vs_layer(df, "explained_variance", base)
    assert all(p.exists() and p.stat().st_size > 0 for p in _files(base))
    csv = pd.read_csv(base.with_suffix(".csv"))
    assert list(csv.columns) == ["model", "init", "layer", "explained_variance"]
    assert len(csv) == len(df)
    merged = csv.merge(df, on=["model", "init", "layer"], suffixes=("", "_src"))
    np.testing.assert_allclose(
        merged["explained_variance"], merged["explained_variance_src"], rtol=1e-12
    )
    axes = fig.get_axes()
    # one panel per model, ordered by n_params; one line per init
    assert [ax.get_title() for ax in axes] == ["m-small", "m-big"]
    assert all(len(ax.get_lines()) == len(INITS) for ax in axes)
    # the plotted y-data are the table values
    line = next(ln for ln in axes[1].get_lines() if ln.get_label() == "trained")
    exp = df[(df.model == "m-big") & (df.init == "trained")].sort_values("layer")
    np.testing.assert_allclose(line.get_ydata(), exp["explained_variance"], rtol=1e-12)
    with pytest.raises(ValueError, match="no column"):
        metric_vs_layer(df, "kl_div_score", tmp_path / "x")


def test_plot_density_histograms(tmp_path):
    edges = np.linspace(-7, 0, 8)
    frames = []
    for model, (n_params, n_layers) in MODELS.items():
        for init in INITS:
            for layer in range(n_layers):
                counts = np.arange(7) + layer
                m = {"density_hist_counts": counts, "density_hist_edges_log10": edges, "d_sae": 100}
                frames.append(
                    density_hist_rows(m, model=model, n_params=n_params, init=init, layer=layer)
                )
    hist = pd.concat(frames, ignore_index=True)
    base = tmp_path / "density"
    fig = plot_density_histograms(hist, base)
    assert all(p.exists() for p in _files(base))
    csv = pd.read_csv(base.with_suffix(".csv"))
    assert len(csv) == len(hist)
    assert csv["frac_latents"].sum() == pytest.approx(hist["n_latents"].sum() / 100)
    titled = [ax for ax in fig.get_axes() if ax.get_title()]
    assert len(titled) == sum(n for _, n in MODELS.values())


def test_plot_abstractness(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for model, (n_params, n_layers) in MODELS.items():
        for init in INITS:
            for layer in range(n_layers):
                per_latent = {
                    "entropy_all": rng.random(50) * 3,
                    "entropy_topN": rng.random(50),
                    "entropy_weighted": rng.random(50),
                    "token_r2": rng.random(50),
                }
                rows += abstractness_rows(
                    per_latent, model=model, n_params=n_params, init=init, layer=layer
                )
    abs_df = pd.DataFrame(rows)
    base = tmp_path / "abstractness"
    fig = plot_abstractness(abs_df, base)
    assert all(p.exists() for p in _files(base))
    csv = pd.read_csv(base.with_suffix(".csv"))
    assert len(csv) == len(abs_df)
    assert set(csv["measure"]) == {"entropy_all", "entropy_topN", "entropy_weighted", "token_r2"}
    assert len(fig.get_axes()) == 4 * len(MODELS)
    assert (csv["q25"] <= csv["median"]).all() and (csv["median"] <= csv["q75"]).all()
