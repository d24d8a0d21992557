"""Peak RSS of SAE training from a large on-disk activation cache (target: < ~2 GB for 4 GB).

Writes a ~4 GB random float32 cache (docs/architecture.md format) to a temporary directory,
then, in a fresh child process (so that writing the cache does not count), trains a short
fused-backend SAE run that reads every cached token through ``CachedActivationSource``, and
reports the child's peak RSS (``resource.getrusage``). The temporary data is deleted at the end.

Usage::

    python benchmarks/bench_rss.py               # 4 GB, d_model 512
    python benchmarks/bench_rss.py --gb 1        # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_random_cache(root: Path, n_tokens: int, d_model: int, shard_tokens: int) -> None:
    """Random N(0, 1) float32 activations for layer 0, written shard by shard."""
    (root / "layer0").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = []
    for i, start in enumerate(range(0, n_tokens, shard_tokens)):
        rows = min(shard_tokens, n_tokens - start)
        rel = f"layer0/shard_{i:05d}.npy"
        np.save(root / rel, rng.standard_normal((rows, d_model), dtype=np.float32))
        names.append(rel)
    manifest = {
        "model": "bench",
        "init": "random",
        "layers": [0],
        "d_model": d_model,
        "dtype": "float32",
        "n_tokens": n_tokens,
        "context_size": 128,
        "shard_tokens": shard_tokens,
        "shards": {"0": names},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))


def train_child(cache: Path, n_tokens: int, d_model: int, buffer_tokens: int) -> None:
    """Runs in the child process: train over the whole cache, print peak RSS as JSON."""
    import torch

    from randsae.sae.act_source import CachedActivationSource
    from randsae.sae.train import train_sae
    from randsae.sections import SAEConfig

    rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # A narrow SAE keeps the run short; memory is dominated by the activation block anyway.
    cfg = {
        "backend": "fused",
        "k": 32,
        "expansion_factor": 2,
        "n_tokens": n_tokens,
        "batch_size": 4096,
        "micro_batch_size": None,
        "lr": None,
        "warmup_steps": 10,
        "b_dec_init": "geometric_median",
        "normalize_decoder": True,
        "shuffle_buffer_tokens": buffer_tokens,
        "checkpoint_every_steps": 0,
        "layer_group_size": 1,
        "precision": "float32",
    }
    src = CachedActivationSource(
        cache, 0, batch_size=4096, n_tokens=n_tokens, buffer_tokens=buffer_tokens, seed=0
    )
    with tempfile.TemporaryDirectory() as out:
        summary = train_sae(src, d_in=d_model, cfg=SAEConfig.from_dict(cfg), seed=0, out_dir=out)
    print(
        json.dumps(
            {
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_imports_mb": rss_after_import / 1024,
                "tokens_read": src.tokens_consumed,
                "steps": summary["steps"],
                "seconds": summary["seconds"],
                "torch": torch.__version__,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="peak RSS of SAE training from a large cache")
    ap.add_argument("--gb", type=float, default=4.0)
    ap.add_argument("--d-model", type=int, default=512)
    ap.add_argument("--shard-tokens", type=int, default=65536)
    ap.add_argument("--buffer-tokens", type=int, default=65536)
    ap.add_argument("--dir", default=None, help="parent of the temporary cache (default: $TMPDIR)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    n_tokens = int(args.gb * 2**30) // (4 * args.d_model) // 4096 * 4096
    if args.child:
        train_child(Path(args.child), n_tokens, args.d_model, args.buffer_tokens)
        return

    tmp = Path(tempfile.mkdtemp(prefix="randsae_rss_", dir=args.dir))
    try:
        t0 = time.perf_counter()
        write_random_cache(tmp / "cache", n_tokens, args.d_model, args.shard_tokens)
        size = sum(f.stat().st_size for f in (tmp / "cache").rglob("*.npy"))
        print(
            f"wrote {size / 2**30:.2f} GiB ({n_tokens} tokens x {args.d_model}) "
            f"in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--gb",
                str(args.gb),
                "--d-model",
                str(args.d_model),
                "--buffer-tokens",
                str(args.buffer_tokens),
                "--child",
                str(tmp / "cache"),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["cache_gib"] = round(size / 2**30, 2)
        print(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
