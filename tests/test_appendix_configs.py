"""Appendix experiments (v2 Figs 15-19) as configs: each builds its DAG offline with the expected
job counts, and its figure (the Fig-2 grid with SAE-variant columns or seed bands) renders on
small synthetic tables shaped like that config's run. Run: pytest tests/test_appendix_configs.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dagtools import job_stats, report_job_counts
from test_paper_grid import dry_run

from randsae.figures.grid import GRID_ROWS, grid_long_table, plot_grid, variant_columns
from randsae.tables.latents import entropy_summary

ROOT = Path(__file__).resolve().parent.parent
APPENDIX = {
    "app-c-1b-tokens.yaml": {"columns": 2, "pooled": 1},
    "app-d-1m-vs-1b.yaml": {"columns": 2, "pooled": 1},
    "app-e-seeds.yaml": {"columns": 1, "pooled": 5},
    "app-f-hyperparameters.yaml": {"columns": 8, "pooled": 1},
    "app-g-tiny-sae.yaml": {"columns": 2, "pooled": 1},
}


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / "configs" / name).read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPENDIX))
def test_appendix_dry_run_job_counts(tmp_path, name):
    cfg = load(name)
    jobs = job_stats(dry_run(tmp_path, ROOT / "configs" / name))
    n_inits = len(cfg["inits"])
    n_cells = n_inits * sum(len(m["layers"]) for m in cfg["models"].values())
    for rule in ("eval_sae", "explain", "score"):
        assert jobs[rule] == n_cells, (rule, jobs)
    assert jobs["build_init"] == n_inits * len(cfg["models"])
    for rule, n in report_job_counts(cfg).items():
        assert jobs[rule] == n, (rule, jobs)


def test_appendix_configs_say_what_they_vary():
    c = load("app-c-1b-tokens.yaml")
    assert c["sae"]["n_tokens"] == 10**9 and set(c["models"]) == {
        "pythia-70m-deduped",
        "pythia-410m-deduped",
    }
    d = load("app-d-1m-vs-1b.yaml")["models"]
    assert sorted(m["sae"]["n_tokens"] for m in d.values()) == [10**6, 10**9]
    e = load("app-e-seeds.yaml")["models"]
    assert len(e) == 5 and all(
        m.get("variant_of") for n, m in e.items() if n.endswith(tuple("1234"))
    )
    f = load("app-f-hyperparameters.yaml")["models"]
    assert {(m["sae"]["expansion_factor"], m["sae"]["k"]) for m in f.values()} == {
        (r, k) for r in (16, 32, 64, 128) for k in (16, 32)
    }
    g = load("app-g-tiny-sae.yaml")["models"]
    assert {(m["sae"]["expansion_factor"], m["sae"]["k"]) for m in g.values()} == {(64, 32), (2, 4)}


def synthetic_tables(models: list[str], inits: list[str], layers: list[int], seed: int = 0):
    """sae_metrics / autointerp / latents tables with the run's keys and random values."""
    rng = np.random.default_rng(seed)
    sm, ai, lat = [], [], []
    for i, m in enumerate(models):
        for init in inits:
            for layer in layers:
                sm.append(
                    dict(model=m, n_params=1000 + i, init=init, layer=layer,
                         explained_variance=rng.uniform(0.5, 1), cossim=rng.uniform(0.7, 1),
                         l1=rng.uniform(10, 50), ce_loss_score=rng.uniform(0, 1))
                )  # fmt: skip
                for scorer in ("fuzzing", "detection"):
                    a = rng.uniform(0.5, 0.9)
                    ai.append(
                        dict(model=m, init=init, layer=layer, scorer=scorer, auroc_pooled=a,
                             auroc_pooled_ci_low=a - 0.05, auroc_pooled_ci_high=a + 0.05)
                    )  # fmt: skip
                for latent in range(6):
                    lat.append(
                        dict(model=m, init=init, layer=layer, latent=latent,
                             token_entropy=rng.uniform(0, 4), fuzzing_auroc=rng.uniform(0.4, 1),
                             detection_auroc=rng.uniform(0.4, 1), n_windows=20)
                    )  # fmt: skip
    return pd.DataFrame(sm), pd.DataFrame(ai), pd.DataFrame(lat)


@pytest.mark.slow  # 18 s for the five figures: the longest group of the fast lane
@pytest.mark.parametrize("name", sorted(APPENDIX))
def test_appendix_figure_renders_at_embedded_scale(tmp_path, name):
    cfg = load(name)
    models = list(cfg["models"])
    sm, ai, lat = synthetic_tables(models, cfg["inits"], [0, 1])
    columns = variant_columns(cfg["models"])
    long = grid_long_table(sm, ai, entropy_summary(lat, 50, 0))
    fig = plot_grid(long, tmp_path / "grid", columns=columns, formats=["png"])
    want = APPENDIX[name]
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (
        len(GRID_ROWS),
        want["columns"],
    )
    drawn = pd.read_csv(tmp_path / "grid.csv")
    assert drawn["column"].nunique() == want["columns"]
    assert drawn["n_pooled"].max() == want["pooled"]
    assert (tmp_path / "grid.png").stat().st_size > 0
