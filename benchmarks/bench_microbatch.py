"""Peak memory of the SAE step as the optimizer batch grows 8x at a fixed micro-batch.

Each setting runs in a fresh child process (so that no setting inherits another's heap): build
one fused-backend SAE job (``randsae.sae.train._SAEJob``), take ``--steps`` optimizer steps on a
random ``(batch, d_in)`` batch, and report

* ``peak``: the child's peak RSS (``resource.getrusage``), or with ``--device cuda`` the peak
  allocated CUDA memory (``torch.cuda.max_memory_allocated``);
* ``delta``: the peak minus the memory held just before the batch and the SAE were created
  (interpreter, torch, and the kernels loaded by two warm-up steps of a tiny SAE), i.e. what the
  SAE and its step need;
* ``predicted``: the memory model of ``benchmarks/compute_model.py`` (``sae_train_bytes``:
  SAE state + batch + pre-activation + micro-batch work + accumulation).

Settings: the batch doubles from ``--micro`` to 8 x ``--micro`` with ``micro_batch_size`` =
``--micro``, then the same batches in one pass (``micro_batch_size: null``) for contrast.

    python benchmarks/bench_microbatch.py                   # CPU, d_in 256, 64x, micro 1024
    python benchmarks/bench_microbatch.py --device cuda --d-in 4096 --micro 8192
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 2**20


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def child(args: argparse.Namespace) -> None:
    """One setting: print {"base", "peak"} in bytes as JSON."""
    import torch

    from randsae.sae.train import _SAEJob
    from randsae.sections import SAEConfig

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    # Warm-up on a tiny SAE, so that the kernels' code pages, thread pools and allocator pools
    # that every setting needs alike are in memory before the baseline is taken.
    fixed = {
        "backend": "fused",
        "k": args.k,
        "lr": None,
        "warmup_steps": 0,
        "b_dec_init": "zeros",
        "normalize_decoder": True,
        "shuffle_buffer_tokens": 65536,
        "checkpoint_every_steps": 0,
        "layer_group_size": 1,
        "precision": "float32",
    }
    tiny = SAEConfig.from_dict(
        {
            **fixed,
            "expansion_factor": 1,
            "n_tokens": 10**6,
            "batch_size": 128,
            "micro_batch_size": 64,
        }
    )
    warm = _SAEJob("w", d_in=args.d_in, cfg=tiny, seed=0, device=dev, total_steps=10)
    for _ in range(2):
        warm.train_step(torch.randn(128, args.d_in).to(dev))
    del warm
    if dev.type == "cuda":
        torch.zeros(1, device=dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        base = _rss_bytes()
    cfg = SAEConfig.from_dict(
        {
            **fixed,
            "expansion_factor": args.expansion,
            "n_tokens": args.batch * 1000,
            "batch_size": args.batch,
            "micro_batch_size": args.micro_batch,
        }
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, args.d_in, generator=gen).to(dev)
    job = _SAEJob("b", d_in=args.d_in, cfg=cfg, seed=0, device=dev, total_steps=1000)
    for _ in range(args.steps):
        job.train_step(x)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        peak = torch.cuda.max_memory_allocated(dev)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"base": base, "peak": peak, "fvu": job.log[-1]["fvu"]}))


def run_setting(args: argparse.Namespace, batch: int, micro: int | None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--batch",
        str(batch),
        "--micro-batch",
        "none" if micro is None else str(micro),
        "--d-in",
        str(args.d_in),
        "--expansion",
        str(args.expansion),
        "--k",
        str(args.k),
        "--steps",
        str(args.steps),
        "--threads",
        str(args.threads),
        "--device",
        args.device,
    ]
    # Every allocation of 128 KiB or more gets its own mapping, returned to the OS when freed, so
    # the peak RSS tracks live memory rather than the heap's fragmentation.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(128 * 1024))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    res = json.loads(out.strip().splitlines()[-1])
    sys.path.insert(0, str(HERE))
    from compute_model import sae_train_bytes

    parts = sae_train_bytes(args.d_in, args.d_in * args.expansion, args.k, batch, micro)
    return {
        "batch": batch,
        "micro": micro,
        "peak": res["peak"],
        "delta": res["peak"] - res["base"],
        "predicted": sum(parts.values()),
        "pre_activation": parts["pre_activation"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--micro-batch", default="none", help=argparse.SUPPRESS)
    ap.add_argument("--d-in", type=int, default=256)
    ap.add_argument("--expansion", type=int, default=64)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--micro", type=int, default=1024, help="fixed micro-batch (tokens)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    if args.child:
        args.micro_batch = None if args.micro_batch == "none" else int(args.micro_batch)
        child(args)
        return
    batches = [args.micro * f for f in (1, 2, 4, 8)]
    rows = [run_setting(args, b, args.micro) for b in batches]
    rows += [run_setting(args, b, None) for b in batches[1:]]
    n = args.d_in * args.expansion
    kind = "peak CUDA allocated" if args.device.startswith("cuda") else "peak RSS"
    print(
        f"d_in {args.d_in}, {args.expansion}x ({n} latents), k {args.k}, {args.steps} steps, "
        f"{args.threads} thread(s), {args.device}; {kind} in MiB"
    )
    print("| batch | micro_batch_size | peak | step delta | predicted | pre-activation |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['batch']} | {r['micro'] if r['micro'] else 'null'} | {r['peak'] / MIB:,.0f} | "
            f"{r['delta'] / MIB:,.0f} | {r['predicted'] / MIB:,.0f} | "
            f"{r['pre_activation'] / MIB:,.0f} |"
        )
    micro_rows = rows[:4]
    lo, hi = min(r["peak"] for r in micro_rows), max(r["peak"] for r in micro_rows)
    print(
        f"fixed micro-batch {args.micro}: peak {lo / MIB:,.0f}..{hi / MIB:,.0f} MiB as the batch "
        f"grows 8x: spread {100 * (hi - lo) / lo:.1f}% of the smallest (target <= 10%)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
