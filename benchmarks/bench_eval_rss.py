"""Peak-RSS benchmark of ``evaluate_sae`` (+ abstractness accumulation) at pythia-70m shape.

A random pythia-70m-shaped HookedTransformer (6 layers, d_model 512, d_vocab 50304, rotary,
parallel attention + MLP) and a random 64x TopKSAE (32768 latents, k 32) are evaluated on random
tokens. Per-latent statistics are online, so peak RSS should not grow with the token count;
run with two token counts to check.

Usage::

    python benchmarks/bench_eval_rss.py --n-tokens 16384 --batch-size 16
    python benchmarks/bench_eval_rss.py --n-tokens 1048576 --batch-size 16   # the 1M-token target

Prints one JSON line: tokens, seconds, RSS after setup and peak RSS (MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from types import SimpleNamespace

import numpy as np
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from randsae.evaluate.abstractness import AbstractnessAccumulator
from randsae.evaluate.metrics import evaluate_sae
from randsae.sae.topk import TopKSAE


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-tokens", type=int, default=16384)
    p.add_argument("--context-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    p.add_argument("--expansion", type=int, default=64)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--layer", type=int, default=3)
    p.add_argument("--d-vocab", type=int, default=50304, help="model vocabulary (pythia: 50304)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-abstractness", action="store_true")
    p.add_argument(
        "--codes-only",
        action="store_true",
        help="skip the model: feed random TopK codes for --n-tokens positions straight "
        "into the abstractness accumulator (its token-dependent memory at scale)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.codes_only:
        return _codes_only(args)

    cfg = HookedTransformerConfig(
        n_layers=6,
        d_model=512,
        n_heads=8,
        d_head=64,
        d_mlp=2048,
        n_ctx=args.context_size,
        d_vocab=args.d_vocab,
        act_fn="gelu",
        normalization_type="LN",
        positional_embedding_type="rotary",
        rotary_dim=16,
        parallel_attn_mlp=True,
        seed=0,
    )
    model = HookedTransformer(cfg).eval()
    lm = SimpleNamespace(model=model, fwd_hooks=[])
    d_sae = 512 * args.expansion
    sae = TopKSAE(512, d_sae, args.k, seed=0)
    n_seq = args.n_tokens // args.context_size
    tokens = np.random.default_rng(0).integers(
        0, cfg.d_vocab, size=(n_seq, args.context_size), dtype=np.int32
    )
    consumers = []
    acc = None
    if not args.no_abstractness:
        acc = AbstractnessAccumulator(d_sae, cfg.d_vocab, top_n=100, r2_min_count=5)
        consumers = [acc.update]
    rss_setup = _rss_mib()
    t0 = time.perf_counter()
    res = evaluate_sae(
        lm, sae, tokens, args.layer, batch_size=args.batch_size, latent_consumers=consumers
    )
    n_latents_abs = None
    if acc is not None:
        n_latents_abs = int(acc.finalize(min_activations=5)["latent"].size)
    out = {
        "n_tokens": res["n_tokens"],
        "batch_size": args.batch_size,
        "d_sae": d_sae,
        "abstractness": acc is not None,
        "seconds": round(time.perf_counter() - t0, 1),
        "rss_after_setup_mib": round(rss_setup, 1),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "abstractness_latents": n_latents_abs,
        "explained_variance": res["explained_variance"],
    }
    print(json.dumps(out))
    return out


def _codes_only(args: argparse.Namespace) -> dict:
    """Worst case for the (latent, token) table: uniformly random tokens and latents."""
    d_sae, vocab, chunk = 512 * args.expansion, args.d_vocab, 2048
    g = torch.Generator().manual_seed(0)
    acc = AbstractnessAccumulator(d_sae, vocab, top_n=100, r2_min_count=5)
    rss_setup = _rss_mib()
    t0 = time.perf_counter()
    for s in range(0, args.n_tokens, chunk):
        n = min(chunk, args.n_tokens - s)
        idx = torch.stack([torch.randperm(d_sae, generator=g)[: args.k] for _ in range(1)]).expand(
            n, -1
        )
        idx = (idx + torch.randint(0, d_sae, (n, 1), generator=g)) % d_sae  # distinct per row
        vals = torch.rand(n, args.k, generator=g)
        tok = torch.randint(0, vocab, (n,), generator=g)
        seq = torch.arange(s, s + n) // args.context_size
        acc.update(vals, idx, tok, seq)
    res = acc.finalize(min_activations=5)
    out = {
        "mode": "codes_only",
        "n_tokens": args.n_tokens,
        "d_sae": d_sae,
        "distinct_pairs": acc.n_pairs,
        "seconds": round(time.perf_counter() - t0, 1),
        "rss_after_setup_mib": round(rss_setup, 1),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "abstractness_latents": int(res["latent"].size),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
