"""TopK SAE training throughput: our fused backend vs sae-lens, eai-sparsify and the roofline.

One run measures, on the same random N(0, 1) activations and with the same batch:

* ``roofline``: the bare encoder matmul ``x @ W_enc`` (the one dense op a TopK SAE step cannot
  avoid; every implementation below pays it once in the forward pass);
* ``saelens_default``: sae-lens ``SAETrainer.step`` on ``TopKTrainingSAE`` with library defaults
  (dense activations, ``rescale_acts_by_decoder_norm=True``, AuxK on);
* ``saelens_tuned``: the same with ``use_sparse_activations=True``,
  ``rescale_acts_by_decoder_norm=False`` (offline-stack.md §6);
* ``sparsify``: eai-sparsify ``SparseCoder`` (FVU, unit-norm decoder, Adam, clip) when installed;
* ``ours``: one real ``randsae.sae.train`` fused training step (metrics and dead-latent
  bookkeeping included).

Implementations are interleaved round-robin within each repeat so that load from other
processes on a shared machine hits them alike; we report the median step time.

Usage::

    python benchmarks/bench_sae.py --out docs/benchmarks.md   # CPU
    python benchmarks/bench_sae.py --device cuda --mfu        # GPU + Pythia-1B-width MFU row
    python benchmarks/bench_sae.py --device cuda --only roofline,ours --shapes 2048x64x32,4096x64x32
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from randsae.sae.levers import Levers
from randsae.sae.precision import tf32_matmuls
from randsae.sae.train import _SAEJob
from randsae.sections import SAEConfig

# Dense fp32 peak (no tensor cores) per GPU, TFLOP/s, for the MFU row; override with --peak-tflops.
PEAK_FP32_TFLOPS = {"H100": 67.0, "H200": 67.0, "A100": 19.5, "L40S": 91.6, "A10": 31.2}
IMPLS = ("roofline", "saelens_default", "saelens_tuned", "sparsify", "ours")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# -- step factories: each returns a zero-argument callable doing one training step ----------


def make_roofline(x: torch.Tensor, d_sae: int, precision: str = "float32") -> Callable[[], None]:
    """The bare encoder matmul in ``precision`` (float32, tf32 or bfloat16)."""
    dtype = torch.bfloat16 if precision == "bfloat16" else x.dtype
    xx = x.to(dtype)
    w = (torch.randn(d_sae, x.shape[1], device=x.device) / x.shape[1] ** 0.5).to(dtype)
    out = torch.empty(x.shape[0], d_sae, device=x.device, dtype=dtype)
    tf32 = precision == "tf32"

    def step() -> None:
        with tf32_matmuls(tf32):
            torch.mm(xx, w.t(), out=out)

    return step


def make_ours(
    x: torch.Tensor,
    d_sae: int,
    k: int,
    precision: str = "float32",
    levers: Levers | None = None,
) -> Callable[[], None]:
    d_in = x.shape[1]
    cfg = {
        "backend": "fused",
        "k": k,
        "expansion_factor": d_sae // d_in,
        "n_tokens": 10**9,
        "batch_size": x.shape[0],
        "micro_batch_size": None,
        "lr": 1e-4,
        "warmup_steps": 0,
        "b_dec_init": "zeros",
        "normalize_decoder": True,
        "shuffle_buffer_tokens": x.shape[0],
        "checkpoint_every_steps": 0,
        "layer_group_size": 1,
        "precision": precision,
    }
    sae_cfg = SAEConfig.from_dict(cfg)
    job = _SAEJob(
        "bench", d_in=d_in, cfg=sae_cfg, seed=0, device=x.device, total_steps=10**6, levers=levers
    )

    def step() -> None:
        job.train_step(x)
        if not job._pending:  # the curve was read back: drop it (memory only)
            job.log.clear()

    return step


def make_saelens(x: torch.Tensor, d_sae: int, k: int, tuned: bool) -> Callable[[], None]:
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    extra = {"use_sparse_activations": True, "rescale_acts_by_decoder_norm": False} if tuned else {}
    sae = TopKTrainingSAE(
        TopKTrainingSAEConfig(
            d_in=x.shape[1], d_sae=d_sae, k=k, device=str(x.device), dtype="float32", **extra
        )
    )
    tcfg = SAETrainerConfig(
        total_training_samples=10**9,
        train_batch_size_samples=x.shape[0],
        lr=1e-4,
        lr_end=1e-5,
        device=str(x.device),
        logger=LoggingConfig(log_to_wandb=False),
        checkpoint_path=None,
        save_final_checkpoint=False,
    )
    trainer = SAETrainer(cfg=tcfg, sae=sae, data_provider=iter(()))

    def step() -> None:
        trainer.step(x)
        trainer.n_training_steps += 1

    return step


def make_sparsify(x: torch.Tensor, d_sae: int, k: int) -> Callable[[], None] | None:
    try:
        from sparsify import SparseCoder, SparseCoderConfig
    except ImportError:
        return None
    d_in = x.shape[1]
    sae = SparseCoder(d_in, SparseCoderConfig(expansion_factor=d_sae // d_in, k=k), device=x.device)
    opt = torch.optim.Adam(sae.parameters(), lr=1e-4)

    def step() -> None:  # the sparsify trainer's per-step work for one SAE, AuxK off (paper)
        out = sae(x)
        out.fvu.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        sae.set_decoder_norm_to_unit_norm()

    return step


# -- measurement ----------------------------------------------------------------------------


def measure(
    steps: dict[str, Callable[[], None]], device: torch.device, repeats: int, inner: int
) -> dict[str, float]:
    """Median seconds per step for each implementation, interleaved round-robin."""
    for fn in steps.values():  # warm-up (allocations, first-call dispatch)
        fn()
        fn()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            _sync(device)
            times[name].append((time.perf_counter() - t0) / inner)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_shape(
    d_in: int,
    expansion: int,
    k: int,
    batch: int,
    device: torch.device,
    repeats: int,
    inner: int,
    only: set[str] | None,
) -> dict[str, float]:
    """Tokens/s per implementation for one SAE shape."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, d_in, generator=g).to(device)
    d_sae = d_in * expansion
    factories: dict[str, Callable[[], Callable[[], None] | None]] = {
        "roofline": lambda: make_roofline(x, d_sae),
        "saelens_default": lambda: make_saelens(x, d_sae, k, tuned=False),
        "saelens_tuned": lambda: make_saelens(x, d_sae, k, tuned=True),
        "sparsify": lambda: make_sparsify(x, d_sae, k),
        "ours": lambda: make_ours(x, d_sae, k),
    }
    steps = {}
    for name, make in factories.items():
        if only is not None and name not in only:
            continue
        fn = make()
        if fn is None:
            print(f"  {name}: skipped (not installed: pip install eai-sparsify==1.3.3)")
            continue
        steps[name] = fn
    secs = measure(steps, device, repeats, inner)
    return {name: batch / s for name, s in secs.items()}


def fmt_ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description="TopK SAE training throughput benchmark")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--inner", type=int, default=2, help="steps per timed repeat")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(IMPLS)}")
    ap.add_argument("--mfu", action="store_true", help="Pythia-1B width (d_in 2048, 64x) MFU row")
    ap.add_argument("--peak-tflops", type=float, default=None, help="device fp32 peak for MFU")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    ap.add_argument(
        "--shapes",
        default="512x16x32,128x64x32",
        help="comma-separated d_in x expansion x k (Pythia-1b width: 2048x64x32, 6.9b: 4096x64x32)",
    )
    args = ap.parse_args()

    warnings.filterwarnings("ignore")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda requested but CUDA is not available")
    only = set(args.only.split(",")) if args.only else None
    env = {
        "nproc": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "batch": args.batch,
        "repeats x inner": f"{args.repeats} x {args.inner}",
        "loadavg_start": tuple(round(v, 2) for v in os.getloadavg()),
    }
    print(env, flush=True)
    results = {}
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    for d_in, ef, k in shapes:
        print(f"d_in={d_in} x{ef} (d_sae {d_in * ef}) k={k} batch={args.batch}", flush=True)
        r = bench_shape(d_in, ef, k, args.batch, device, args.repeats, args.inner, only)
        for name, tps in r.items():
            print(f"  {name:16s} {tps:10.0f} tok/s", flush=True)
        results[(d_in, ef, k)] = r
    env["loadavg_end"] = tuple(round(v, 2) for v in os.getloadavg())

    lines = [
        "| shape | roofline | sae-lens default | sae-lens tuned | sparsify | **ours** "
        "| ours/sae-lens default | ours/roofline | ours/sparsify |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (d_in, ef, k), r in results.items():
        g = r.get
        cells = [f"{g(n):,.0f}" if g(n) else "n/a" for n in IMPLS]
        lines.append(
            f"| d_in {d_in}, {ef}x, k {k} | " + " | ".join(cells[:4]) + f" | **{cells[4]}** | "
            f"{fmt_ratio(g('ours'), g('saelens_default'))} | "
            f"{fmt_ratio(g('ours'), g('roofline'))} | {fmt_ratio(g('ours'), g('sparsify'))} |"
        )

    if args.mfu:
        d_in, ef, k = 2048, 64, 32
        print(f"MFU: d_in={d_in} x{ef} k={k} batch={args.batch}", flush=True)
        r = bench_shape(
            d_in,
            ef,
            k,
            args.batch,
            device,
            max(3, args.repeats // 2),
            args.inner,
            {"roofline", "ours"},
        )
        d_sae = d_in * ef
        # Useful work of a TopK step: the dense encoder matmul plus O(N k d_in) sparse terms
        # (decoder forward, dW_dec, dvals, dW_enc: about 4 x 2 N k d_in FLOPs).
        flops_per_token = 2 * d_in * d_sae + 8 * k * d_in
        peak = args.peak_tflops
        if peak is None and device.type == "cuda":
            name = torch.cuda.get_device_name(device)
            peak = next((v for key, v in PEAK_FP32_TFLOPS.items() if key in name), None)
        achieved = r["ours"] * flops_per_token / 1e12
        mfu = f"{100 * achieved / peak:.1f}%" if peak else "n/a (pass --peak-tflops)"
        print(
            f"  ours {r['ours']:.0f} tok/s = {achieved:.2f} TFLOP/s useful; MFU {mfu}; "
            f"roofline {r['roofline']:.0f} tok/s"
        )
        lines.append(
            f"| MFU: d_in {d_in}, {ef}x, k {k} | {r['roofline']:,.0f} | | | | **{r['ours']:,.0f}** "
            f"| | {fmt_ratio(r['ours'], r['roofline'])} | MFU {mfu} (fp32 peak {peak} TFLOP/s) |"
        )

    table = "\n".join(lines)
    print(table)
    print(env)
    if args.out:
        Path(args.out).write_text(
            f"<!-- generated by benchmarks/bench_sae.py -->\n\nEnvironment: `{env}`\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
