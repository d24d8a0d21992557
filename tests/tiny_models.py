"""Tiny models the unit tests share (not a test module)."""

from __future__ import annotations

from typing import Any


def tiny_hooked_transformer() -> Any:
    """A 2-layer GPT-NeoX-style HookedTransformer (d_model 32, rotary, parallel attn/MLP, seeded),
    in eval mode."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=2,
        d_model=32,
        n_heads=4,
        d_head=8,
        d_mlp=64,
        n_ctx=32,
        d_vocab=100,
        act_fn="gelu",
        normalization_type="LN",
        positional_embedding_type="rotary",
        rotary_dim=4,
        parallel_attn_mlp=True,
        seed=0,
    )
    return HookedTransformer(cfg).eval()
