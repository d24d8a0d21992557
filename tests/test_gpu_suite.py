"""benchmarks/gpu_suite.py cannot rot: its doc renderer, table comparison and measured-rate
plumbing on synthetic results (fast), and the whole suite at toy sizes on a CPU (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import compute_model as cm  # noqa: E402
import gpu_report  # noqa: E402
import gpu_smoke  # noqa: E402


def gpu_results(ours_auto: float) -> dict:
    """Results as a GPU run writes them (JSON round trip: int keys become strings)."""
    rows = {
        str(d): {
            "ours_auto": ours_auto * f,
            "sparsify": 1000.0 * f,
            "roofline_bfloat16": 2500.0 * f,
        }
        for d, f in ((512, 8.0), (2048, 2.0), (4096, 1.0))
    }
    res = {
        "env": {"device_type": "cuda", "gpu": "NVIDIA H200", "date": "d", "commit": "c"},
        "status": {"trainers": {"state": "ok", "seconds": 1.0}},
        "sections": {
            "trainers": {"rows": rows, "k": 32, "expansion": 64},
            "parity": {
                "float32": {"fvu": 0.2, "dead_frac": 0.1},
                "bfloat16": {"fvu": 0.201, "dead_frac": 0.1},
                "fvu_rel_diff": 0.005, "dead_pp_diff": 0.0, "pass": True, "settings": {},
            },
            "stream": {"70m": {"layers": [0, 1], "d_model": 512, "forward_tokens_per_s": 1e6}},
            "eval": {"tokens_per_s": 5e4, "context": 2048, "model": "m", "model_dtype": "bfloat16",
                     "layer": 3, "batch": 2, "tokens": 2**17, "wall_s": 2.6},
            "smoke": {"cuda": {"rc": 0}},
        },
    }  # fmt: skip
    return json.loads(json.dumps(res))


def test_targets_pass_and_fail_from_the_measured_ratios():
    good = gpu_report.render(gpu_results(ours_auto=1600.0))  # 1.6x sparsify, 64 % of roofline
    assert "| ours (`auto`) / sparsify tokens/s at d_in 2048 >= 1.5 | 1.60 | pass |" in good
    assert "| ours (`auto`) / bf16 matmul roofline at d_in 4096 >= 30% | 64.0% | pass |" in good
    assert "| smoke DAG completes with `device: cuda` | rc 0 | pass |" in good
    bad = gpu_report.render(gpu_results(ours_auto=1300.0))
    assert "at d_in 4096 >= 1.5 | 1.30 | FAIL |" in bad
    assert "at d_in 512 >= 1.2 | 1.30 | pass |" in bad


def test_a_cpu_run_leaves_every_gpu_figure_not_measured_and_round_trips():
    res = gpu_results(ours_auto=1600.0)
    res["env"] = {"device_type": "cpu", "tiny": False, "command": "gpu_suite.py --x -->"}
    res["sections"]["profile"] = {
        "64": {"kind": "CPU self time of ops", "ms_per_step": {"matmul": 1.0},
               "share": {"matmul": 1.0}, "top": [["aten::addmm", 1.0, "matmul"]]}
    }  # fmt: skip
    text = gpu_report.render(res)
    assert "**No GPU run yet" in text and "1.60" not in text
    assert text.count("| not measured |") >= 5
    assert "## CPU profile (a CPU run: not a GPU figure)" in text
    assert gpu_report.read_embedded(text) == res  # "-->" in a string does not end the comment


def test_compare_tables_applies_the_stated_tolerances(tmp_path):
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    cpu.mkdir(), gpu.mkdir()
    base = pd.DataFrame({"model": ["a", "b"], "fvu": [0.5, 0.2], "seconds": [1.0, 2.0]})
    base.to_csv(cpu / "m.csv", index=False)
    base.assign(fvu=[0.52, 0.21], seconds=[50.0, 60.0]).to_csv(gpu / "m.csv", index=False)
    base.to_csv(cpu / "far.csv", index=False)
    base.assign(fvu=[0.9, 0.2]).to_csv(gpu / "far.csv", index=False)
    base.to_csv(cpu / "keys.csv", index=False)
    base.assign(model=["a", "c"]).to_csv(gpu / "keys.csv", index=False)
    base.to_csv(cpu / "gone.csv", index=False)
    res = gpu_smoke.compare_tables(cpu, gpu)
    assert res["m.csv"]["agree"] and res["m.csv"]["cells"] == 2  # the time column is left out
    assert not res["far.csv"]["agree"] and res["far.csv"]["worst_column"] == "fvu"
    assert not res["keys.csv"]["agree"] and not res["keys.csv"]["same_keys"]
    assert res["gone.csv"] == {"agree": False, "why": "missing from the CUDA run"}


def test_measured_rates_rewrite_compute_md(tmp_path):
    res = gpu_results(ours_auto=1600.0)
    res["sections"]["memory"] = {
        "rows": [{"d_in": 512, "precision": "bfloat16", "batch": 65536, "micro": 8192,
                  "peak_bytes": 3 * 2**30, "predicted_bytes": 2 * 2**30}]
    }  # fmt: skip
    measured = gpu_smoke.measured_rates(res)
    flops = cm.sae_train_flops_per_token(512, 512 * 64, 32)
    assert measured["sae_flop_per_s"][512] == pytest.approx(1600.0 * 8 * flops)
    cfg = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    cpu = cm.stored_cpu_rates(ROOT / "docs" / "compute.md")
    gpu = dict(cm.ASSUMED_GPU, measured=measured)
    text = cm.render_doc(ROOT / "configs" / "paper.yaml", cfg, cpu, gpu, "x")
    assert "GPU rates measured on NVIDIA H200" in text and "No GPU rates" not in text
    assert "| 512 | bfloat16 | 65536 | 8192 | 3.00 | 2.00 | 1.50 |" in text
    assert "the goal of 150 GPU-hours" in text
    assumed = cm.render_doc(ROOT / "configs" / "paper.yaml", cfg, cpu, dict(cm.ASSUMED_GPU), "x")
    assert "**No GPU rates have been measured yet.**" in assumed
    assert "within the goal" not in assumed


def test_the_committed_docs_claim_no_gpu_figure():
    doc = (ROOT / "docs" / "benchmarks-gpu.md").read_text()
    assert "**No GPU run yet" in doc
    assert gpu_report.read_embedded(doc)["env"]["device_type"] == "cpu"
    compute = (ROOT / "docs" / "compute.md").read_text()
    assert "**No GPU rates have been measured yet.**" in compute


@pytest.mark.slow
def test_gpu_suite_runs_at_toy_sizes_on_a_cpu(tmp_path):
    """Every section but the smoke DAG (its runs: the next test), --device cpu --tiny."""
    sections = "trainers,levers,profile,parity,memory,stream,eval"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--device", "cpu",
           "--tiny", "--out-dir", str(tmp_path), "--sections", sections]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = (tmp_path / "benchmarks-gpu.md").read_text()
    res = gpu_report.read_embedded(doc)
    states = {k: v["state"] for k, v in res["status"].items()}
    assert states == dict.fromkeys([*sections.split(","), "compute"], "ok"), res["status"]
    assert "None of these numbers is a GPU figure" in doc
    assert set(res["sections"]["trainers"]["rows"]["64"]) >= {"ours_auto", "roofline_bfloat16"}
    assert res["sections"]["levers"]["exact_topk"]["32/bfloat16"] == 1.0
    assert (tmp_path / "compute.md").exists()  # the compute plumbing ran on the toy rates
    refused = subprocess.run(cmd[:4], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert refused.returncode != 0 and "--out-dir is required" in refused.stderr


@pytest.mark.slow
def test_smoke_runs_compare_two_finished_runs(smoke_run, tmp_path):
    """The smoke section's Snakemake runs and table comparison, on two copies of the session's
    finished smoke run (a CPU stands in for the GPU: nothing is left to do, tables agree)."""
    suite = SimpleNamespace(
        args=SimpleNamespace(smoke_corpus=None),
        results={"sections": {}},
        left=lambda: 600.0,
        log=lambda msg: None,
    )
    runs = gpu_smoke.SmokeRuns(suite, gpu_device="cpu", template=smoke_run)
    suite.results["sections"]["smoke"] = runs.finish_cuda(suite)
    assert suite.results["sections"]["smoke"]["cuda"]["rc"] == 0
    out = runs.compare(suite)
    assert out["cpu"]["rc"] == 0 and "sae_metrics.csv" in out["comparison"]
    assert all(c["agree"] for c in out["comparison"].values()), out["comparison"]


def test_gpu_wheels_pin_the_project_versions():
    """The wheels carried to the GPU machine are the versions requirements.txt pins."""
    import re

    import gpu_wheels

    pins = dict(
        m.groups()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if (m := re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s#]+)", line))
    )
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    carried = dict(s.split("==") for g in gpu_wheels.GROUPS.values() for s in g)
    shared = set(pins) & set(carried)
    assert {"transformer-lens", "sae-lens", "snakemake", "datasets", "anthropic"} <= shared
    assert {k: carried[k] for k in shared} == {k: pins[k] for k in shared}
