"""Benchmark: toy SAE sweep trained one model at a time vs stacked (vectorised) models.

Usage: python benchmarks/bench_toy.py [--threads 1] [--epochs 3] [--repeats 2]

Trains the same set of (seed, L1 coefficient) SAEs of one (dataset, arm, size) job with
``models_per_batch`` = 1 (a loop), = number of seeds (all seeds of a coefficient stacked)
and = all models, and prints seconds per SAE. Results are identical up to float rounding
(tests/test_toy.py checks stacked == per-model training).
"""

from __future__ import annotations

import argparse
import time

import torch

from randsae.sections import SharkeyData, ToySAEConfig
from randsae.toy.train import build_arm, run_sweep

CASES = {
    # name: (sharkey overrides, n_latents, n_seeds, n_coefs)
    "reduced-default (h=256, n=512)": (dict(num_samples=3000), 512, 2, 4),
    "paper-shaped (h=256, n=2048)": (dict(num_samples=3000), 2048, 4, 2),
    "small-words-like (h=50, n=100)": (
        dict(num_samples=3000, num_inputs=50, num_features=100),
        100,
        2,
        4,
    ),
}


def bench(
    overrides: dict, n_latents: int, n_seeds: int, n_coefs: int, mpb: int, epochs: int
) -> float:
    sharkey = dict(
        num_samples=3000, num_inputs=256, num_features=512, avg_active_features=5, lambda_decay=0.99
    )
    sharkey.update(overrides)
    data = build_arm(
        "sharkey",
        "plain",
        list(range(n_seeds)),
        0,
        test_fraction=0.1,
        ffn_expansion=4,
        sharkey=SharkeyData.from_dict(sharkey),
    )
    cfg = ToySAEConfig.from_dict(
        dict(
            l1_coefs=dict(log10_min=-3, log10_max=0, num=n_coefs),
            seeds=n_seeds,
            tuning_seed=None,
            epochs=epochs,
            batch_size=256,
            lr=1e-3,
            models_per_batch=mpb,
        )
    )
    t0 = time.perf_counter()
    run_sweep(data, dataset="sharkey", arm="plain", n_latents=n_latents, sae_cfg=cfg, master_seed=0)
    return (time.perf_counter() - t0) / (n_seeds * n_coefs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, threads {args.threads}, epochs {args.epochs}, best of {args.repeats}"
    )
    print("case | models_per_batch | seconds per SAE")
    for name, (over, n, seeds, coefs) in CASES.items():
        for label, mpb in (
            ("1 (loop)", 1),
            (f"{seeds} (seeds)", seeds),
            (f"{seeds * coefs} (all)", seeds * coefs),
        ):
            best = min(bench(over, n, seeds, coefs, mpb, args.epochs) for _ in range(args.repeats))
            print(f"{name} | {label} | {best:.3f}", flush=True)


if __name__ == "__main__":
    main()
