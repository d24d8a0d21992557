"""Seconds per training step of embedded GPT-NeoX-style models (sizing configs such as
configs/embedded-long.yaml against the default's model).

Usage: python benchmarks/bench_model_step.py [--threads 1] [--steps 6] SPEC [SPEC ...]

SPEC = n_layers,d_model,n_heads,n_ctx,batch_size (d_mlp = 4 d_model, rotary_dim = d_head / 4,
vocabulary 4096). Each model trains on random tokens with AdamW (the step of
``randsae.models.neox.train_embedded`` without data loading); 2 warm-up steps, then ``--steps``
timed. Give the reference model twice (first and last) to see how much the machine's load drifted.
"""

from __future__ import annotations

import argparse
import time

import torch

from randsae.models.neox import neox_config
from randsae.sections import ArchConfig


def step_seconds(spec: str, steps: int, d_vocab: int = 4096) -> tuple[int, float]:
    """(parameters, mean seconds per step) of one SPEC."""
    from transformer_lens import HookedTransformer

    n_layers, d_model, n_heads, n_ctx, batch = map(int, spec.split(","))
    arch = dict(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_mlp=4 * d_model,
        n_ctx=n_ctx,
        rotary_dim=max(4, d_model // n_heads // 4),
    )
    model = HookedTransformer(neox_config(ArchConfig.from_dict(arch), d_vocab, 0))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, d_vocab, (batch, n_ctx), generator=torch.Generator().manual_seed(0))
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        loss = model(x, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return sum(p.numel() for p in model.parameters()), (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for spec in args.specs:
        n, s = step_seconds(spec, args.steps)
        print(f"{spec}: {n / 1e6:.2f} M parameters, {s:.3f} s/step", flush=True)


if __name__ == "__main__":
    main()
