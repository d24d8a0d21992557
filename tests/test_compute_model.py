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
    assert rows["pythia-6.9b-deduped"]["gpu_mem"] > 100 * cm.GIB


def test_table1_lists_the_paper_hours() -> None:
    cfg = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    text = cm.table1(cm.grid_model(cfg, GPU, RATES), cfg)
    assert "**435** (all variants)" in text
    assert "| pythia-6.9b-deduped | 8 | 70 |" in text
