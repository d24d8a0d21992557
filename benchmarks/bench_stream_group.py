"""Stream mode on one device: a Pythia-70m-shaped model feeds a group of layer SAEs directly.

Builds a randomly initialised ``HookedTransformer`` of pythia-70m's shape (d_model 512, 6 layers,
d_mlp 2048, rotary, parallel residual, vocabulary 50,304), streams random token sequences through
it with :class:`randsae.sae.act_source.StreamActivationSource` and trains one TopK SAE per layer
of the group with :func:`randsae.sae.train.train_sae_group` (the code path of the
``train_sae_group`` rule), then prints tokens/s per layer group and the peak device memory.

    python benchmarks/bench_stream_group.py --device cuda --n-tokens 2097152
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch


def pythia70m_shaped(device: str):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        d_model=512, n_layers=6, n_heads=8, d_head=64, d_mlp=2048, n_ctx=2048, d_vocab=50304,
        act_fn="gelu", normalization_type="LN", eps=1e-5, positional_embedding_type="rotary",
        rotary_dim=16, rotary_adjacent_pairs=False, parallel_attn_mlp=True,
        default_prepend_bos=False, original_architecture="GPTNeoXForCausalLM", seed=0,
        device=device,
    )  # fmt: skip
    return HookedTransformer(cfg).eval()


def main() -> None:
    from randsae.models.inits import LoadedModel
    from randsae.sae.act_source import StreamActivationSource
    from randsae.sae.train import train_sae_group
    from randsae.sections import SAEConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--layers", default="0,1,2,3,4,5")
    ap.add_argument("--n-tokens", type=int, default=2**21)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--expansion", type=int, default=64)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--precision", default="float32", help="sae.precision (auto: bf16 on CUDA)")
    args = ap.parse_args()
    layers = [int(x) for x in args.layers.split(",")]
    lm = LoadedModel(pythia70m_shaped(args.device))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50277, size=args.n_tokens + args.context, dtype=np.int64)
    cfg = SAEConfig.from_dict({
        "k": args.k, "expansion_factor": args.expansion, "n_tokens": args.n_tokens,
        "batch_size": args.batch, "micro_batch_size": None, "lr": None, "warmup_steps": 10,
        "b_dec_init": "geometric_median", "normalize_decoder": True, "layer_group_size": 1,
        "backend": "fused", "checkpoint_every_steps": 0, "shuffle_buffer_tokens": 2**20,
        "precision": args.precision,
    })  # fmt: skip
    source = StreamActivationSource(
        lm, tokens, layers, context_size=args.context, batch_size=args.batch,
        n_tokens=args.n_tokens, buffer_tokens=2**20, seed=0, forward_batch_size=64,
    )  # fmt: skip
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        summaries = train_sae_group(
            source, d_in=512, cfg=cfg, seeds={layer: layer for layer in layers},
            out_dirs={layer: f"{d}/layer{layer}" for layer in layers}, device=args.device,
            progress=False,
        )  # fmt: skip
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else None
    out = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "layers": layers,
        "n_tokens": args.n_tokens,
        "d_sae": 512 * args.expansion,
        "wall_s": round(wall, 1),
        "tokens_per_s": round(args.n_tokens / wall),
        "peak_gib": round(peak, 2) if peak is not None else None,
        "final_fvu": {k: round(v.get("fvu", float("nan")), 4) for k, v in summaries.items()},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
