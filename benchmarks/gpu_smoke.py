"""``gpu_suite`` sections that run the workflow: the smoke DAG on CUDA against a CPU run, and
``docs/compute.md`` from the measured rates.

The smoke runs are ``configs/smoke.yaml`` through Snakemake, once with ``device: cuda`` and once
with ``device: cpu``, in two scratch folders, both started in the background when the suite
begins (the CPU run with the GPU hidden). Their ``results/tables/*.csv`` are compared cell by cell:
a numeric cell agrees when ``|cuda - cpu| <= ATOL + RTOL * |cpu|``; columns that hold times,
dates, versions or machine details are left out. The CUDA run trains its SAEs at
``sae.precision: auto`` (bf16 on the GPU) and its tiny model on the GPU, so the two runs are not
expected to agree bit for bit, only within these tolerances.

Without gensim (not on the GPU machine's image) the ``corpus`` rule cannot run: pass
``--smoke-corpus DIR`` holding its three outputs (``benchmarks/gpu_wheels.py`` writes them);
they are copied into both runs, and Snakemake runs with ``--rerun-triggers mtime`` so that it
takes them as they are.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RTOL, ATOL = 0.10, 0.05
MIN_AGREEING = 0.95  # share of a table's numeric cells that must agree
SKIP_COLUMNS = re.compile(
    r"(second|_s$|per_s|wall|time|date|duration|host|device|version|sha|commit|path|cpu|gpu"
    r"|tokens_per|elapsed|machine|python|torch)",
    re.I,
)
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


class SmokeRuns:
    """The two background Snakemake runs of configs/smoke.yaml (CUDA and CPU)."""

    def __init__(self, suite, gpu_device: str = "cuda", template: Path | None = None) -> None:
        """``gpu_device``/``template`` (a finished run both runs start from): for the tests."""
        self.suite = suite
        self.base = Path(tempfile.mkdtemp(prefix="gpu-suite-smoke-"))
        self.procs: dict[str, tuple[subprocess.Popen, Path, float]] = {}
        n = os.cpu_count() or 4
        # the CPU run gets a quarter of the cores: it runs on while the timed sections do
        for run, device, cores in (
            ("cuda", gpu_device, max(2, n // 2)),
            ("cpu", "cpu", max(2, n // 4)),
        ):
            work = self.base / run
            if template is not None:
                shutil.copytree(template, work, symlinks=True)
            else:
                work.mkdir()
            self.procs[run] = self._start(work, device, cores)
        suite.log(f"smoke: started the {gpu_device} and cpu runs under {self.base}")

    def _start(self, work: Path, device: str, cores: int) -> tuple[subprocess.Popen, Path, float]:
        corpus = self.suite.args.smoke_corpus
        extra = []
        if corpus:
            dest = work / "results" / "data" / "corpus"
            dest.mkdir(parents=True, exist_ok=True)
            for name in ("train.jsonl", "val.jsonl", "meta.json"):
                shutil.copy2(Path(corpus) / name, dest / name)
            extra = ["--rerun-triggers", "mtime"]
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, **OFFLINE, "PYTHONPATH": path}
        if device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        cmd = [
            sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work),
            "--configfile", str(ROOT / "configs" / "smoke.yaml"), "--config", f"device={device}",
            "--cores", str(cores), "--scheduler", "greedy", "--set-threads", "train_model=1",
            "--resources", "gpu=8", *extra,
        ]  # fmt: skip
        with open(work / "snakemake.out", "w") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        return proc, work, time.perf_counter()

    def _wait(self, device: str, timeout: float) -> dict[str, Any]:
        proc, work, t0 = self.procs[device]
        try:
            proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"state": "killed (time budget)", "tail": _tail(work / "snakemake.out")}
        out = {"rc": proc.returncode, "wall_s": round(time.perf_counter() - t0, 1)}
        out["tables"] = sorted(p.name for p in (work / "results" / "tables").glob("*.csv"))
        if proc.returncode != 0:
            out["tail"] = _tail(work / "snakemake.out")
        return out

    def finish_cuda(self, suite) -> dict[str, Any]:
        """Wait for the CUDA run (the timed sections start after it)."""
        return {"cuda": self._wait("cuda", suite.left() - 60)}

    def compare(self, suite) -> dict[str, Any]:
        """Wait for the CPU run; compare the two runs' tables."""
        out = dict(suite.results["sections"].get("smoke", {}))
        out["cpu"] = self._wait("cpu", suite.left() - 5)
        if out.get("cuda", {}).get("rc") == 0 and out["cpu"].get("rc") == 0:
            out["comparison"] = compare_tables(
                self.base / "cpu" / "results" / "tables", self.base / "cuda" / "results" / "tables"
            )
        out["tolerance"] = {"rtol": RTOL, "atol": ATOL, "min_agreeing": MIN_AGREEING}
        return out


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text()[-n:]
    except OSError:
        return ""


def compare_tables(cpu_dir: Path, gpu_dir: Path) -> dict[str, Any]:
    """Per table: same rows and columns? share of numeric cells within tolerance, worst column."""
    import numpy as np
    import pandas as pd

    res: dict[str, Any] = {}
    for path in sorted(cpu_dir.glob("*.csv")):
        other = gpu_dir / path.name
        if not other.exists():
            res[path.name] = {"agree": False, "why": "missing from the CUDA run"}
            continue
        a, b = pd.read_csv(path), pd.read_csv(other)
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            res[path.name] = {"agree": False, "why": f"shape {a.shape} vs {b.shape}"}
            continue
        cols = [
            c
            for c in a.columns
            if pd.api.types.is_numeric_dtype(a[c])
            and pd.api.types.is_numeric_dtype(b[c])
            and not SKIP_COLUMNS.search(str(c))
        ]
        keys = [c for c in a.columns if c not in cols and not SKIP_COLUMNS.search(str(c))]
        same_keys = a[keys].astype(str).equals(b[keys].astype(str)) if keys else True
        if not cols:
            res[path.name] = {"agree": same_keys, "cells": 0}
            continue
        x, y = a[cols].to_numpy(float), b[cols].to_numpy(float)
        both_nan = np.isnan(x) & np.isnan(y)
        ok = both_nan | (np.abs(y - x) <= ATOL + RTOL * np.abs(x))
        dev = np.where(both_nan, 0.0, np.abs(y - x) / (ATOL + RTOL * np.abs(x)))
        worst = cols[int(np.nanargmax(np.nanmax(dev, axis=0)))] if dev.size else None
        share = float(ok.mean())
        res[path.name] = {
            "agree": bool(same_keys and share >= MIN_AGREEING),
            "same_keys": bool(same_keys),
            "cells": int(ok.size),
            "agreeing": share,
            "worst_column": worst,
        }
    return res


# -------------------------------------------------------------------- compute.md


def measured_rates(results: dict[str, Any]) -> dict[str, Any] | None:
    """Achieved FLOP/s of the suite's measurements, for ``compute_model``'s GPU-hours."""
    from compute_model import forward_flops_per_token, sae_train_flops_per_token

    sec, env = results["sections"], results["env"]
    rows = sec.get("trainers", {}).get("rows", {})
    k, ef = sec.get("trainers", {}).get("k", 32), sec.get("trainers", {}).get("expansion", 64)
    sae = {
        int(d): r["ours_auto"] * sae_train_flops_per_token(int(d), int(d) * ef, k)
        for d, r in rows.items()
        if isinstance(r, dict) and r.get("ours_auto")
    }
    fwd = {}
    for spec_name, row in sec.get("stream", {}).items():
        if not isinstance(row, dict) or "forward_tokens_per_s" not in row:
            continue
        layers = row["layers"]
        n_layers = {"70m": 6, "410m": 24, "1b": 16}.get(spec_name, max(layers) + 1)
        fpt = forward_flops_per_token(n_layers, row["d_model"], 50304, 2048, max(layers) + 1, False)
        fwd[row["d_model"]] = row["forward_tokens_per_s"] * fpt
    ev = sec.get("eval", {})
    if not (sae and fwd and ev.get("tokens_per_s")):
        return None
    # eval_sae per token: clean, spliced and ablated full forward passes + the SAE's encoder
    eval_fpt = 3 * forward_flops_per_token(6, 512, 50304, ev["context"]) + 2 * 512 * 512 * ef
    return {
        "device": env.get("gpu", env.get("device_type")),
        "date": env.get("date"),
        "commit": env.get("commit"),
        "sae_flop_per_s": sae,
        "forward_flop_per_s": fwd,
        "eval_flop_per_s": ev["tokens_per_s"] * eval_fpt,
        "memory": sec.get("memory", {}).get("rows", []),
    }


def compute_doc(suite) -> dict[str, Any]:
    """Write ``compute.md`` (paper.yaml's grid) from the measured rates into the output folder."""
    import yaml
    from compute_model import ASSUMED_GPU, ASSUMED_GPU_NAME, render_doc, stored_cpu_rates

    measured = measured_rates(suite.results)
    if measured is None:
        return {"written": False, "why": "needs the trainers, stream and eval sections"}
    cfg_path = ROOT / "configs" / "paper.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cpu = stored_cpu_rates(ROOT / "docs" / "compute.md")
    text = render_doc(cfg_path, cfg, cpu, dict(ASSUMED_GPU, measured=measured), ASSUMED_GPU_NAME)
    out = suite.out_dir / "compute.md"
    out.write_text(text)
    (suite.out_dir / "gpu-rates.json").write_text(json.dumps(measured, indent=1))
    total = re.search(
        r"\| \*\*total\*\* \| \*\*\d+\*\* \| \*\*[\d,]+\*\* \| \*\*([\d,]+)\*\*", text
    )
    return {
        "written": str(out),
        "gpu_hours": float(total.group(1).replace(",", "")) if total else None,
        "measured_on_gpu": suite.device.type == "cuda",
    }
