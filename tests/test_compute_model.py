"""The memory model of benchmarks/compute_model.py: every paper job fits an 80 GB GPU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import compute_model as cm  # noqa: E402

RATES = {"forward": {"flop_per_s": 1e11}, "sae": {"flop_per_s": 1e11}}
GPU = {"peak_model_tflops": 312.0, "util_model": 0.3, "peak_sae_tflops": 19.5, "util_sae": 0.5}


def test_pre_activation_is_micro_batch_times_latents() -> None:
    one = cm.sae_train_bytes(4096, 262144, 32, 65536, 8192)
    assert one["pre_activation"] == 8192 * 262144 * 4
    assert one["accumulation"] == 2 * 4096 * 262144 * 4
    whole = cm.sae_train_bytes(4096, 262144, 32, 65536, None)
    assert whole["pre_activation"] == 65536 * 262144 * 4 == 68_719_476_736  # the 68.7 GB
    assert whole["accumulation"] == 0 and whole["state"] == one["state"]
    assert cm.sae_train_bytes(64, 1024, 8, 512, 512) == cm.sae_train_bytes(64, 1024, 8, 512, None)


def test_model_params_match_pythia() -> None:
    # Pythia's published totals (GPT-NeoX, untied embeddings): 70m 70,426,624; 6.9b 6,857,302,016
    assert cm.model_params(6, 512, 50304) == 70_426_624
    assert cm.model_params(32, 4096, 50432) == 6_857_302_016


@pytest.mark.parametrize("name", ["paper.yaml", "paper-extra-sizes.yaml"])
def test_every_paper_training_job_fits_an_80gb_gpu(name: str) -> None:
    cfg = yaml.safe_load((ROOT / "configs" / name).read_text())
    rows = [r for r in cm.grid_model(cfg, GPU, RATES) if "mem_parts" in r]
    assert {r["model"] for r in rows} == set(cfg["models"])
    for r in rows:
        assert r["gpu_mem"] <= cm.GPU_MEMORY_GIB * cm.GIB, (r["model"], r["gpu_mem"] / cm.GIB)


def test_without_micro_batching_pythia_6_9b_does_not_fit() -> None:
    cfg = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    cfg["sae"]["micro_batch_size"] = None
    rows = {r["model"]: r for r in cm.grid_model(cfg, GPU, RATES) if "mem_parts" in r}
    assert rows["pythia-6.9b-deduped"]["gpu_mem"] > cm.GPU_MEMORY_GIB * cm.GIB


def test_bf16_precision_halves_the_pre_activation_and_adds_the_weight_copy() -> None:
    fp32 = cm.sae_train_bytes(4096, 262144, 32, 65536, 8192, "float32")
    bf16 = cm.sae_train_bytes(4096, 262144, 32, 65536, 8192, "auto")
    assert bf16["pre_activation"] * 2 == fp32["pre_activation"]
    assert bf16["low_precision_copies"] == 2 * (4096 * 262144 + 262144 + 8192 * 4096)
    assert fp32["low_precision_copies"] == 0 and bf16["state"] == fp32["state"]


def test_measured_rates_replace_the_assumed_ones() -> None:
    """GPU-hours from measured achieved FLOP/s (interpolated in log d_in between widths)."""
    cfg = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    flat = {"sae_flop_per_s": {512: 1e14, 4096: 1e14}, "forward_flop_per_s": {512: 2e14},
            "eval_flop_per_s": 5e13}  # fmt: skip
    rows = cm.grid_model(cfg, dict(GPU, measured=flat), RATES)
    one = next(r for r in rows if r["rule"] == "train_sae_group" and "70m" in r["model"])
    assumed = next(
        r for r in cm.grid_model(cfg, GPU, RATES) if r is not None and r["model"] == one["model"]
        and r["rule"] == "train_sae_group"
    )  # fmt: skip
    assert one["gpu_h"] < assumed["gpu_h"]  # 100 TFLOP/s beat 19.5 x 0.5 assumed
    assert cm._interp_log({512: 1.0, 2048: 3.0}, 1024) == pytest.approx(2.0)
    assert cm._interp_log({512: 1.0, 2048: 3.0}, 8192) == 3.0  # constant beyond the range
    eval_row = next(r for r in rows if r["rule"] == "eval_sae" and "70m" in r["model"])
    assert eval_row["gpu_h"] == pytest.approx(eval_row["flops"] / 5e13 / 3600)


def test_table1_lists_the_paper_hours() -> None:
    cfg = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    text = cm.table1(cm.grid_model(cfg, GPU, RATES), cfg)
    assert "**435** (all variants)" in text
    assert "| pythia-6.9b-deduped | 8 | 70 |" in text
