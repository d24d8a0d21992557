"""benchmarks/toy_tuning.py at toy size: it reads the typed toy section, trains the plain arm on
the tuning seed, and its MMCS are the sweep's own for that seed and setting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from randsae.sections import check_config
from randsae.toy.stats import arm_data
from randsae.toy.train import ToyData, l1_coef_values, run_sweep

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import toy_tuning  # noqa: E402


def tiny_config(tmp_path: Path, **sae) -> Path:
    """config.yaml with a small synthetic dataset and two L1 coefficients."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["toy"]["sharkey"].update(
        num_inputs=16, num_features=24, num_samples=600, num_latents=[24], avg_active_features=3
    )
    cfg["toy"]["sae"].update(l1_coefs={"log10_min": -2, "log10_max": -1, "num": 2}, **sae)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_toy_tuning_prints_the_sweeps_mmcs_per_setting(tmp_path, capsys):
    path = tiny_config(tmp_path)
    toy_tuning.main(["--configfile", str(path), "--grid", "256:2,32:1", "--target", "0"])
    lines = capsys.readouterr().out.splitlines()
    toy = check_config(yaml.safe_load(path.read_text())).toy
    coefs = l1_coef_values(toy.sae.l1_coefs)
    assert lines[0].split() == ["batch", "epochs", "CPU", "s", *(f"{c:.4g}" for c in coefs)]
    rows = [line.split() for line in lines[1:3]]
    assert [r[:2] for r in rows] == [["256", "2"], ["32", "1"]]
    assert lines[3].startswith("cheapest with best MMCS >= 0.0: batch ")
    # the same SAEs as the sweep's on the tuning seed (test batches of 256 in both)
    data = ToyData(toy.seed, toy.test_fraction, toy.ffn_expansion, sharkey=toy.sharkey)
    arm = arm_data("sharkey", "plain", [toy.sae.tuning_seed], data, None)
    sweep = run_sweep(arm, dataset="sharkey", arm="plain", n_latents=24,
                      sae_cfg=toy.sae.replace(batch_size=256, epochs=2), master_seed=toy.seed)  # fmt: skip
    assert [float(m) for m in rows[0][3:]] == pytest.approx(list(sweep["mmcs"]), abs=1e-3)
    assert all(0 < float(m) <= 1 for r in rows for m in r[3:])


def test_toy_tuning_refuses_a_config_that_tuned_nothing(tmp_path):
    path = tiny_config(tmp_path, tuning_seed=None)
    with pytest.raises(SystemExit, match="tuning_seed is null"):
        toy_tuning.main(["--configfile", str(path), "--grid", "32:1"])
