"""Stage helpers, provenance, aggregation and plotting. Run: pytest tests/test_stages.py"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from randsae import provenance
from randsae.figures.plotting import init_sweep_figure, metric_vs_layer
from randsae.figures.targets import figure_targets
from randsae.sae.steps import layer_groups, link_sae
from randsae.tables.aggregate import autointerp_table, sae_metrics_table


def test_layer_groups():
    assert layer_groups([3, 0, 1, 2, 4], 2) == [[0, 1], [2, 3], [4]]
    assert layer_groups([5], 6) == [[5]]


def test_link_sae_hard_links(tmp_path):
    grp = tmp_path / "group0" / "layer3"
    grp.mkdir(parents=True)
    (grp / "cfg.json").write_text("{}")
    out = tmp_path / "saes" / "layer3" / "cfg.json"
    link_sae(str(tmp_path / "group0"), 3, [str(out)])
    assert out.read_text() == "{}"
    assert out.stat().st_ino == (grp / "cfg.json").stat().st_ino


def test_write_json_atomic_and_meta(tmp_path):
    p = tmp_path / "a" / "m.json"
    provenance.write_meta(p, "rule_x", params={"k": np.int64(3), "xs": (1, 2)})
    rec = json.loads(p.read_text())
    assert rec["rule"] == "rule_x" and rec["params"] == {"k": 3, "xs": [1, 2]}
    assert rec["packages"]["torch"] != "not installed"
    assert not list(p.parent.glob("*.tmp"))


def _cells(tmp_path):
    paths = []
    for init in ("trained", "step0"):
        for layer in (0, 1):
            p = tmp_path / f"{init}{layer}.json"
            p.write_text(
                json.dumps(
                    {
                        "model": "m",
                        "init": init,
                        "layer": layer,
                        "explained_variance": 0.5 + layer / 10,
                        "arrays": {"x": [1, 2]},
                    }
                )
            )
            paths.append(p)
    return paths


def test_sae_metrics_table_and_plot(tmp_path):
    df = sae_metrics_table(_cells(tmp_path), {"m": 123})
    assert list(df.columns[:4]) == ["model", "n_params", "init", "layer"]
    assert len(df) == 4 and (df["n_params"] == 123).all() and "arrays" not in df.columns
    metric_vs_layer(df, "explained_variance", tmp_path / "fig", formats=["png"])
    data = pd.read_csv(tmp_path / "fig.csv")
    assert (tmp_path / "fig.png").stat().st_size > 1000 and len(data) == 4


def test_autointerp_table(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(
        json.dumps(
            {
                "model": "m",
                "init": "trained",
                "layer": 0,
                "backend": "lexical",
                "summary": {"detection": {"auroc_pooled": 0.8}, "fuzzing": {"auroc_pooled": 0.7}},
            }
        )
    )
    df = autointerp_table([p], {"m": 1})
    assert sorted(df["scorer"]) == ["detection", "fuzzing"]


def test_init_sweep_figure(tmp_path):
    rows, ab = [], []
    for init in [
        "trained",
        "rerandomized-x0.5-normal",
        "rerandomized-x2-normal",
        "rerandomized-x0.5-uniform",
    ]:
        rows.append(
            {
                "model": "m",
                "init": init,
                "layer": 0,
                "explained_variance": 0.9,
                "ce_loss_score": 0.8,
            }
        )
        ab.append({"model": "m", "init": init, "layer": 0, "measure": "entropy_all", "median": 1.0})
    init_sweep_figure(pd.DataFrame(rows), pd.DataFrame(ab), tmp_path / "sweep", formats=["png"])
    data = pd.read_csv(tmp_path / "sweep.csv")
    assert set(data["distribution"]) == {"normal", "uniform"} and sorted(
        data["scale"].unique()
    ) == [0.5, 1.0, 2.0]


def test_figure_targets_cover_formats():
    t = figure_targets("f", ["detection"], ["pdf", "png"], init_sweep=True)
    assert (
        "f/init_sweep.csv" in t
        and "f/autointerp_detection_random_explanation_auroc_vs_layer.pdf" in t
    )


def test_latent_page_highlights_and_escapes(tmp_path):
    from randsae.autointerp.pages import render_window, write_page

    w = {"text": ["<a>", " cat"], "acts": [0.0, 2.0]}
    h = render_window(w, 2.0)
    assert "&lt;a&gt;" in h and "rgba(255,120,0,1.00)" in h and 'title="2"' in h
    ex = {"latents": [{"latent": 7, "n_activating_windows": 3, "max_act": 2.0, "explain": [w]}]}
    write_page(
        tmp_path / "p.html",
        "t",
        {"trained": ex, "step0": ex},
        {"trained": [{"latent": 7, "explanation": "cats"}]},
    )
    page = (tmp_path / "p.html").read_text()
    assert page.count('class="col"') == 2 and "cats" in page and "(no explanation)" in page


def test_latent_page_app_l_dashboard(tmp_path):
    """App L: with scored windows each latent shows entropy, AUROCs, a ROC and a histogram."""
    from randsae.autointerp.pages import svg_histogram, svg_roc, write_page

    w = {"text": ["a", "b"], "tokens": [1, 2], "acts": [1.0, 3.0]}
    ex = {"latents": [{"latent": 7, "n_activating_windows": 3, "max_act": 3.0, "explain": [w]}]}
    rows = [
        {"scorer": s, "latent": 7, "label": lab, "prob": p, "error": None}
        for s in ("fuzzing", "detection")
        for lab, p in ((1, 0.9), (0, 0.2), (1, 0.4), (0, 0.6))
    ]
    write_page(tmp_path / "p.html", "t", {"trained": ex}, {}, {"trained": rows})
    page = (tmp_path / "p.html").read_text()
    assert "token entropy 0.56 nats" in page  # p = (1/4, 3/4)
    assert "fuzzing AUROC 0.75" in page and "detection AUROC 0.75" in page
    assert page.count("<polyline") == 1 and "activation histogram (2 active positions)" in page
    assert svg_roc([0, 1], [0, 1]).startswith("<svg") and "<rect" not in svg_histogram([0.0])
