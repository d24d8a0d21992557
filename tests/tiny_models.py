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


#: A small sae section the SAE unit tests start from: the fused TopK recipe without warm-up or
#: checkpoints (each test overrides what it is about).
SAE_BASE: dict[str, Any] = {
    "backend": "fused",
    "k": 4,
    "expansion_factor": 4,
    "n_tokens": 32768,
    "batch_size": 256,
    "micro_batch_size": None,
    "lr": None,
    "warmup_steps": 0,
    "b_dec_init": "geometric_median",
    "normalize_decoder": True,
    "shuffle_buffer_tokens": 4096,
    "checkpoint_every_steps": 0,
    "layer_group_size": 1,
    "precision": "float32",
}


def sae_section(**over: Any) -> Any:
    """:data:`SAE_BASE` with ``over`` as a checked :class:`randsae.sections.SAEConfig`."""
    from randsae.sections import SAEConfig

    return SAEConfig.from_dict({**SAE_BASE, **over})


def autointerp_section(ai: dict[str, Any]) -> Any:
    """An autointerp dict as a checked :class:`randsae.sections.AutointerpConfig` (no second
    judge, no simulation, warnings only unless ``ai`` says otherwise)."""
    from randsae.sections import AutointerpConfig

    base = {
        "max_failure_rate": None,
        "second_judge": None,
        "simulation": {"n_latents": 0},
        "highlight_threshold": 0.3,
    }
    return AutointerpConfig.from_dict({**base, **ai})


def explain_and_score(examples: str, ai: dict[str, Any], out_dir: Any, seed: int = 0) -> Any:
    """The explain and score stages of one cell, as their rules call them; returns out_dir."""
    from pathlib import Path

    from randsae.autointerp import steps

    sec, out = autointerp_section(ai), Path(out_dir)
    steps.explain(
        examples,
        backend=sec.backend,
        lexical_top_tokens=sec.lexical_top_tokens,
        highlight_threshold=sec.highlight_threshold,
        anthropic=sec.anthropic,
        openai=sec.openai,
        out_jsonl=str(out / "explanations.jsonl"),
    )
    steps.score(
        examples,
        str(out / "explanations.jsonl"),
        sec,
        seed,
        str(out / "scores.json"),
        str(out / "predictions.jsonl"),
    )
    return out
