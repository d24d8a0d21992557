"""configs/embedded-long.yaml: a deeper, wider embedded model with the paper's 40 explainer
windows; its DAG builds offline with the expected job counts (one of each per cell, no toy)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagtools import job_stats
from test_paper_grid import dry_run

ROOT = Path(__file__).resolve().parent.parent
LONG = ROOT / "configs" / "embedded-long.yaml"


def test_embedded_long_is_deeper_wider_and_uses_40_explainer_windows():
    long, default = (yaml.safe_load(p.read_text()) for p in (LONG, ROOT / "config.yaml"))
    (lm,) = long["models"].values()
    (dm,) = default["models"].values()
    assert lm["source"] == "embedded"
    assert lm["arch"]["n_layers"] > dm["arch"]["n_layers"]
    assert lm["arch"]["d_model"] > dm["arch"]["d_model"]
    assert lm["train"]["steps"] > dm["train"]["steps"]
    assert long["examples"]["n_explain"] == 40
    ex = long["examples"]
    assert ex["min_activating_windows"] >= ex["n_explain"] + ex["n_test_activating"]
    assert len(lm["layers"]) >= 3  # the depth claims (2b, 2c) need three layers


@pytest.mark.slow
def test_embedded_long_dry_run_job_counts(tmp_path):
    cfg = yaml.safe_load(LONG.read_text())
    jobs = job_stats(dry_run(tmp_path / "work", LONG))
    n_inits = len(cfg["inits"])
    n_cells = sum(len(m["layers"]) for m in cfg["models"].values()) * n_inits
    per_cell = ("train_sae", "eval_sae", "explain", "score")
    assert (
        {r: jobs[r] for r in per_cell}
        == dict.fromkeys(per_cell, n_cells)
        == dict.fromkeys(per_cell, 20)
    )
    assert jobs["cache_activations"] == jobs["build_init"] == n_inits
    assert jobs["train_model"] == jobs["init_model"] == jobs["claims"] == jobs["tables"] == 1
    assert not any(r.startswith("toy") for r in jobs), jobs
    assert not (tmp_path / "work" / "results").exists()


def test_bench_model_step_times_a_real_training_step():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_model_step", ROOT / "benchmarks" / "bench_model_step.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    n_params, seconds = mod.step_seconds("1,32,2,16,2", steps=1, d_vocab=64)
    # embed + unembed (2 x 64 x 32) dominate this tiny model; one block adds 12 x 32^2 weights
    assert 2 * 64 * 32 + 12 * 32 * 32 <= n_params < 2 * 64 * 32 + 14 * 32 * 32 + 1000
    assert seconds > 0
