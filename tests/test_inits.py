"""Model variants (inits). Run: pytest tests/test_inits.py"""

from __future__ import annotations

import math

import pytest
import torch

from randsae.config import parse_init
from randsae.models.inits import (
    LoadedModel,
    apply_init,
    init_record,
    is_embedding,
    is_layer_norm,
    noise_embedding_hook,
    rerandomize,
    weights_digest,
)
from randsae.models.neox import neox_config

INIT_CFG = {
    "seed": 42,
    "rerandomize_layer_norm": False,
    "noise_std": 1.0,
    "scale": 1.0,
    "distribution": "normal",
}


def fresh(seed=0):
    from conftest import TINY_ARCH
    from transformer_lens import HookedTransformer

    arch = dict(TINY_ARCH, d_model=64, d_mlp=256)  # bigger tensors: tighter mean/std checks
    torch.manual_seed(seed)
    return HookedTransformer(neox_config(arch, 100, seed=seed), tokenizer=None)


def params(m):
    return {n: p.detach().clone() for n, p in m.named_parameters()}


@pytest.mark.parametrize("dist", ["normal", "uniform", "laplace"])
def test_rerandomize_matches_mean_std_and_skips_embeddings(dist):
    m = fresh()
    before = params(m)
    changed = rerandomize(
        m, include_embeddings=False, include_layer_norm=False, seed=1, distribution=dist
    )
    after = params(m)
    assert changed, "something must be resampled"
    for name, old in before.items():
        new = after[name]
        if is_embedding(name) or is_layer_norm(name):
            assert name not in changed
            assert torch.equal(old, new), f"{name} must be bit-identical"
            continue
        assert name in changed
        if old.numel() >= 1000 and old.std() > 0:
            assert not torch.equal(old, new)
            assert abs(float(new.mean() - old.mean())) < 0.1 * float(old.std()) + 1e-6, name
            assert math.isclose(float(new.std()), float(old.std()), rel_tol=0.1), name


def test_rerandomize_embeddings_included_and_layer_norm_flag():
    m = fresh()
    before = params(m)
    changed = rerandomize(m, include_embeddings=True, include_layer_norm=True, seed=1)
    assert "embed.W_E" in changed and "unembed.W_U" in changed
    assert any(is_layer_norm(n) for n in changed)
    assert not torch.equal(before["embed.W_E"], dict(m.named_parameters())["embed.W_E"])


def test_scale_multiplies_std():
    m = fresh()
    name = "blocks.0.mlp.W_in"
    std0 = float(dict(m.named_parameters())[name].std())
    rerandomize(m, include_embeddings=False, include_layer_norm=False, seed=3, scale=2.0)
    assert math.isclose(float(dict(m.named_parameters())[name].std()), 2 * std0, rel_tol=0.1)


def test_same_seed_same_weights_other_seed_differs():
    a, b, c = fresh(), fresh(), fresh()
    for m, s in ((a, 5), (b, 5), (c, 6)):
        rerandomize(m, include_embeddings=False, include_layer_norm=False, seed=s)
    assert weights_digest(a) == weights_digest(b)
    assert weights_digest(a) != weights_digest(c)


def test_apply_init_seed_derives_from_config_and_name():
    a = apply_init(fresh(), parse_init("rerandomized"), INIT_CFG, "tiny").model
    b = apply_init(fresh(), parse_init("rerandomized"), INIT_CFG, "tiny").model
    c = apply_init(fresh(), parse_init("rerandomized"), {**INIT_CFG, "seed": 7}, "tiny").model
    assert weights_digest(a) == weights_digest(b) != weights_digest(c)
    t = apply_init(fresh(), parse_init("trained"), INIT_CFG, "tiny").model
    assert weights_digest(t) == weights_digest(fresh())


def test_noise_control_replaces_token_embedding_every_pass():
    m = fresh().eval()
    lm = apply_init(m, parse_init("noise_control"), INIT_CFG, "tiny")
    assert isinstance(lm, LoadedModel) and lm.fwd_hooks
    tokens = torch.randint(0, 100, (2, 16))
    other = torch.randint(0, 100, (2, 16))
    with torch.no_grad(), m.hooks(fwd_hooks=lm.fwd_hooks):
        _, c1 = m.run_with_cache(tokens, names_filter="hook_embed")
        _, c2 = m.run_with_cache(tokens, names_filter="hook_embed")
        # token identity is gone: the residual does not depend on the tokens beyond the noise
        _, c3 = m.run_with_cache(other, names_filter="hook_embed")
    e1 = c1["hook_embed"]
    assert not torch.allclose(e1, m.embed.W_E[tokens])
    assert not torch.equal(e1, c2["hook_embed"]), "fresh noise on every pass"
    assert abs(float(e1.std()) - 1.0) < 0.15 and abs(float(e1.mean())) < 0.1
    assert c3["hook_embed"].shape == e1.shape
    # hooks leave no trace after the context
    _, clean = m.run_with_cache(tokens, names_filter="hook_embed")
    assert torch.allclose(clean["hook_embed"], m.embed.W_E[tokens])


def test_noise_hook_reproducible_by_seed():
    _, h1 = noise_embedding_hook(1.0, 3)
    _, h2 = noise_embedding_hook(1.0, 3)
    v = torch.zeros(2, 4, 8)
    assert torch.equal(h1(v, None), h2(v, None))


def test_init_record_has_digest_and_stats():
    cfg = {"models": {"tiny": {}}, "init": INIT_CFG}
    lm = apply_init(fresh(), parse_init("rerandomized"), INIT_CFG, "tiny")
    rec = init_record(lm, "tiny", "rerandomized", cfg)
    assert rec["weights_sha256"] == weights_digest(lm.model)
    assert rec["n_params"] == sum(p.numel() for p in lm.model.parameters())
    assert set(rec["param_stats"]) == {n for n, _ in lm.model.named_parameters()}
