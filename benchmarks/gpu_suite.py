"""Every GPU figure of the SAE trainer in one command, within a time budget, offline.

    python benchmarks/gpu_suite.py --wheels .gpu_wheels --out-dir "$OUT"   # on the GPU machine
    python benchmarks/gpu_suite.py --device cpu --tiny --out-dir /tmp/s     # the rot check (tests)
    python benchmarks/gpu_suite.py --render docs/benchmarks-gpu.md          # re-render a doc

Sections (``benchmarks/gpu_sections.py``; each in its own ``try``, failures recorded, the run
goes on): ``trainers`` (matmul rooflines at fp32/TF32/bf16, sparsify and sae-lens with their
own defaults when importable, ours at each ``sae.precision``, at d_in 512/2048/4096), ``levers``
(each speed switch of ``randsae.sae.levers`` against the defaults), ``profile`` (torch profiler:
matmul, top-k, sparse terms, optimizer), ``parity`` (bf16 against fp32 training quality),
``memory`` (micro-batch peak memory against the memory model), ``stream`` (a stream-mode group
at the pythia 70m/410m/1b shapes, random weights), ``eval`` (``evaluate_sae`` throughput),
``smoke`` (configs/smoke.yaml through Snakemake with ``device: cuda``, compared with a CPU run)
and ``compute`` (the measured rates into ``compute.md``). After every section the results are
written again (``benchmarks-gpu.md`` with its data embedded, ``compute.md``), so a run cut short
still leaves what it measured. ``--budget-s`` bounds the whole run: a section that would not
fit is skipped and says so.

``--wheels DIR``: pure-Python wheels the machine lacks (``benchmarks/gpu_wheels.py`` downloads
them), installed into a scratch folder and put on the path of this process and its children.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

SECTIONS = ("trainers", "profile", "stream", "eval", "levers", "parity", "memory", "smoke")

FULL = {
    "shapes": [512, 2048, 4096], "batch": 8192, "expansion": 64, "k": 32,
    "repeats": 5, "inner": 3, "saelens_repeats": 2,
    "trainer_shape_s": 25, "saelens_s": 20, "lever_shapes": [512, 4096], "lever_s": 8,
    "profile_shapes": [512, 4096], "profile_s": 10, "profile_steps": 5,
    "parity": {"d": 256, "sub": 32, "expansion": 64, "k": 32, "batch": 4096, "steps": 300},
    "memory": {"shapes": [512, 2048, 4096], "batch": 65536, "micro": 8192, "per_s": 8},
    "stream": [
        {"model": "70m", "layers": [0, 1, 2, 3, 4, 5], "n_tokens": 2**20, "buffer": 2**19,
         "batch": 65536, "micro": 8192, "context": 2048, "forward_batch": 4,
         "forward_seqs": 256, "est_s": 25, "ab_block": True},
        {"model": "410m", "layers": [0, 1, 2, 3, 4, 5], "n_tokens": 2**19, "buffer": 2**19,
         "batch": 65536, "micro": 8192, "context": 2048, "forward_batch": 4,
         "forward_seqs": 128, "est_s": 20},
        {"model": "1b", "layers": [0, 2, 4, 6], "n_tokens": 2**18, "buffer": 2**18,
         "batch": 65536, "micro": 8192, "context": 2048, "forward_batch": 4,
         "forward_seqs": 64, "est_s": 25},
    ],
    "eval": {"n_tokens": 2**17, "context": 2048, "batch": 2, "layer": 3},
    "est": {"trainers": 110, "levers": 30, "profile": 15, "parity": 15, "memory": 40,
            "stream": 70, "eval": 15, "smoke": 150},
}  # fmt: skip

TINY_SHAPE = (2, 32, 4, 64, 4)  # layers, d_model, heads, d_mlp, rotary_dim
TINY = {
    "shapes": [32, 64], "batch": 256, "expansion": 8, "k": 4,
    "repeats": 2, "inner": 1, "saelens_repeats": 1,
    "trainer_shape_s": 1, "saelens_s": 1, "lever_shapes": [32], "lever_s": 1,
    "profile_shapes": [64], "profile_s": 1, "profile_steps": 2,
    "parity": {"d": 32, "sub": 8, "expansion": 16, "k": 4, "batch": 256, "steps": 40},
    "memory": {"shapes": [32], "batch": 512, "micro": 128, "per_s": 1},
    "stream": [
        {"model": "tiny", "shape": TINY_SHAPE, "layers": [0, 1], "n_tokens": 2048,
         "buffer": 1024, "batch": 256, "micro": 128, "context": 32, "forward_batch": 4,
         "forward_seqs": 16, "est_s": 1, "ab_block": True},
    ],
    "eval": {"n_tokens": 1024, "context": 32, "batch": 4, "layer": 1, "shape": TINY_SHAPE,
             "label": "tiny shape"},
    "est": {s: 1 for s in SECTIONS},
}  # fmt: skip


class Suite:
    """Runs sections in order within a time budget; results written after every section."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.args = args
        self.device = torch.device(args.device)
        self.sizes = TINY if args.tiny else FULL
        self.t0 = time.perf_counter()
        self.budget = float(args.budget_s)
        self.out_dir = Path(args.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, Any] = {"sections": {}, "status": {}}
        self.log_path = self.out_dir / "gpu-suite.log"
        self.log_path.write_text("")

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def time_left(self, need_s: float) -> bool:
        return self.elapsed() + need_s <= self.budget

    def log(self, msg: str) -> None:
        line = f"[{self.elapsed():7.1f}s] {msg}"
        print(line, flush=True)
        with open(self.log_path, "a") as f:
            f.write(line + "\n")

    def run(self, name: str, fn, est_s: float) -> None:
        if not self.time_left(est_s):
            self.results["status"][name] = {"state": "skipped", "why": "time budget"}
            self.log(f"{name}: skipped (needs ~{est_s:.0f} s, budget left {self.left():.0f} s)")
            self.checkpoint()
            return
        self.log(f"{name}: start")
        t = time.perf_counter()
        try:
            self.results["sections"][name] = fn(self)
            state = {"state": "ok"}
        except Exception as err:  # noqa: BLE001 - record, free memory, go on
            state = {"state": "failed", "why": f"{type(err).__name__}: {err}"[:500]}
            state["traceback"] = traceback.format_exc()[-3000:]
            self.log(f"{name}: FAILED {state['why']}\n{state['traceback']}")
            from gpu_sections import free

            free(self.device)
        state["seconds"] = round(time.perf_counter() - t, 1)
        self.results["status"][name] = state
        self.log(f"{name}: {state['state']} in {state['seconds']} s")
        self.checkpoint()

    def left(self) -> float:
        return self.budget - self.elapsed()

    def checkpoint(self) -> None:
        """Write the doc (results embedded) as it stands."""
        from gpu_report import render

        self.results["elapsed_s"] = round(self.elapsed(), 1)
        self.results["loadavg_now"] = [round(v, 2) for v in os.getloadavg()]
        text = render(self.results)
        _atomic_write(self.out_dir / "benchmarks-gpu.md", text)
        if not self.args.no_compute:  # compute.md as soon as its rates exist (cheap)
            import gpu_smoke

            with contextlib.suppress(Exception):
                self.results["sections"]["compute"] = gpu_smoke.compute_doc(self)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def install_wheels(wheels: str) -> dict[str, Any]:
    """Install ``wheels/*.whl`` (no index, no deps) into a scratch folder on the path."""
    files = sorted(str(p) for p in Path(wheels).glob("*.whl"))
    if not files:
        return {"wheels": 0}
    target = Path(tempfile.mkdtemp(prefix="gpu-suite-site-"))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
    proc = subprocess.run(
        [*cmd, "--target", str(target), *files], capture_output=True, text=True, check=False
    )
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(target), str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    return {"wheels": len(files), "target": str(target), "pip_rc": proc.returncode,
            "pip_err": proc.stderr[-1500:]}  # fmt: skip


def environment(suite: Suite, wheels: dict[str, Any]) -> dict[str, Any]:
    import torch
    from gpu_sections import importable

    dev = suite.device
    env: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device_type": dev.type,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "nproc": os.cpu_count(),
        "loadavg_start": [round(v, 2) for v in os.getloadavg()],
        "tiny": bool(suite.args.tiny),
        "budget_s": suite.budget,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "wheels": wheels,
    }
    if dev.type == "cuda":
        prop = torch.cuda.get_device_properties(dev)
        env |= {"gpu": prop.name, "sms": prop.multi_processor_count,
                "gpu_memory_gib": round(prop.total_memory / 2**30, 1)}  # fmt: skip
    with contextlib.suppress(Exception):
        env["commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("triton", "eai-sparsify", "sae-lens", "transformer-lens", "snakemake"):
        try:
            env[pkg] = version(pkg)
        except PackageNotFoundError:
            env[pkg] = None
    env["import_errors"] = {
        m: e
        for m in ("sparsify", "sae_lens", "transformer_lens", "snakemake", "triton")
        if (e := importable(m))
    }
    from randsae.sae.levers import current_levers

    env["levers"] = current_levers().as_dict()
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="toy sizes (the CPU rot check)")
    ap.add_argument(
        "--out-dir", default=None, help="where the docs go (default docs/: GPU runs only)"
    )
    ap.add_argument("--budget-s", type=float, default=450.0, help="whole-run time budget")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset")
    ap.add_argument("--wheels", default=None, help="folder of wheels to put on the path")
    ap.add_argument("--smoke-corpus", default=None, help="smoke corpus (when gensim is missing)")
    ap.add_argument("--no-compute", action="store_true", help="leave compute.md alone")
    ap.add_argument("--profile-shapes", default=None, help="d_in list of the profile section")
    ap.add_argument("--render", default=None, help="re-render this doc from its embedded data")
    args = ap.parse_args(argv)
    if args.render:
        from gpu_report import read_embedded, render

        path = Path(args.render)
        path.write_text(render(read_embedded(path.read_text())))
        return 0
    wheels = install_wheels(args.wheels) if args.wheels else {"wheels": 0}
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("--device cuda requested but CUDA is not available")
    if args.out_dir is None:
        if args.tiny or not args.device.startswith("cuda"):
            sys.exit("--out-dir is required for CPU and --tiny runs (docs/ holds GPU figures)")
        args.out_dir = str(ROOT / "docs")
    import gpu_sections as gs
    import gpu_smoke
    from gpu_sections import importable

    suite = Suite(args)
    if args.profile_shapes:
        suite.sizes = dict(
            suite.sizes, profile_shapes=[int(v) for v in args.profile_shapes.split(",")]
        )
    suite.results["env"] = environment(suite, wheels)
    suite.log(f"environment: {json.dumps(suite.results['env'])}")
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        sys.exit(f"unknown sections {unknown}; choose from {SECTIONS}")
    fns = {
        "trainers": gs.trainers, "levers": gs.levers, "profile": gs.profile,
        "parity": gs.parity, "memory": gs.memory, "stream": gs.stream,
        "eval": gs.eval_throughput,
    }  # fmt: skip
    est = suite.sizes["est"]
    # The smoke DAG runs in the background (CUDA and CPU runs) from the start, while the sections
    # whose figures do not depend on timing (parity, memory) run; the timed sections start once
    # the CUDA run is done, and the tables are compared at the end.
    early = [s for s in ("parity", "memory") if s in wanted]
    late = [s for s in SECTIONS if s in wanted and s not in early and s != "smoke"]
    smoke = None
    if "smoke" in wanted:
        if importable("snakemake") is None and suite.time_left(est["smoke"]):
            smoke = gpu_smoke.SmokeRuns(suite)
        else:
            why = importable("snakemake") or "time budget"
            suite.results["status"]["smoke"] = {"state": "skipped", "why": why}
    for name in early:
        suite.run(name, fns[name], est[name])
    if smoke is not None:
        suite.run("smoke", smoke.finish_cuda, 0)
    for name in late:
        suite.run(name, fns[name], est[name])
    if smoke is not None:
        suite.run("smoke", smoke.compare, 0)
    if not args.no_compute:
        suite.run("compute", gpu_smoke.compute_doc, 0)
    suite.log(f"done in {suite.elapsed():.0f} s; doc: {suite.out_dir / 'benchmarks-gpu.md'}")
    suite.checkpoint()
    return 0


if __name__ == "__main__":
    sys.exit(main())
