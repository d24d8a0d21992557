"""Model variants (inits). Run: pytest tests/test_inits.py"""

from __future__ import annotations

import math

import pytest
import torch

from randsae.models.inits import LoadedModel, apply_init, init_record, parse_init, weights_digest
from randsae.models.neox import neox_config
from randsae.models.transforms import (
    is_embedding,
    is_layer_norm,
    noise_embedding_hook,
    rerandomize,
)
from randsae.sections import ArchConfig, InitConfig

INIT_CFG = InitConfig(
    seed=42, rerandomize_layer_norm=False, noise_std=1.0, scale=1.0, distribution="normal"
)


def fresh(seed=0):
    from conftest import TINY_ARCH
    from transformer_lens import HookedTransformer

    arch = dict(TINY_ARCH, d_model=64, d_mlp=256)  # bigger tensors: tighter mean/std checks
    torch.manual_seed(seed)
    return HookedTransformer(
        neox_config(ArchConfig.from_dict(arch), 100, seed=seed), tokenizer=None
    )


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
    c = apply_init(fresh(), parse_init("rerandomized"), INIT_CFG.replace(seed=7), "tiny").model
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


def test_with_stream_gives_the_hooks_load_builds_for_that_stream():
    """An opened (model, init) switches noise stream without rebuilding its weights: the hooks
    equal those apply_init builds for that stream; inits without stream hooks are unchanged."""
    m = fresh().eval()
    spec = parse_init("noise_control")
    switched = apply_init(m, spec, INIT_CFG, "tiny", noise_stream="eval").with_stream("examples")
    built = apply_init(m, spec, INIT_CFG, "tiny", noise_stream="examples")
    evald = apply_init(m, spec, INIT_CFG, "tiny", noise_stream="eval")
    assert switched.model is m
    v = torch.zeros(2, 4, 8)
    noise = [lm.fwd_hooks[0][1](v, None) for lm in (switched, built, evald)]
    assert torch.equal(noise[0], noise[1])
    assert not torch.equal(noise[0], noise[2])
    trained = apply_init(m, parse_init("trained"), INIT_CFG, "tiny")
    assert trained.with_stream("examples") is trained


def test_noise_hook_reproducible_by_seed():
    _, h1 = noise_embedding_hook(1.0, 3)
    _, h2 = noise_embedding_hook(1.0, 3)
    v = torch.zeros(2, 4, 8)
    assert torch.equal(h1(v, None), h2(v, None))


def test_init_record_has_digest_and_stats():
    lm = apply_init(fresh(), parse_init("rerandomized"), INIT_CFG, "tiny")
    rec = init_record(lm, "tiny", "rerandomized", INIT_CFG)
    assert rec["weights_sha256"] == weights_digest(lm.model)
    assert rec["n_params"] == sum(p.numel() for p in lm.model.parameters())
    assert set(rec["param_stats"]) == {n for n, _ in lm.model.named_parameters()}


# -- re-randomization pools per Hugging Face tensor -----------------------------------------------


def _hf_neox_and_converted():
    """A tiny real GPTNeoXForCausalLM whose fused QKV has K at 10x the scale of Q and V, and the
    HookedTransformer transformer-lens's own converter makes of it."""
    from conftest import TINY_ARCH
    from transformer_lens import HookedTransformer
    from transformer_lens.pretrained.weight_conversions.neox import convert_neox_weights
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    arch = dict(TINY_ARCH, d_model=64, d_mlp=256)
    d_head = arch["d_model"] // arch["n_heads"]
    hf = GPTNeoXForCausalLM(
        GPTNeoXConfig(
            vocab_size=100,
            hidden_size=arch["d_model"],
            num_hidden_layers=arch["n_layers"],
            num_attention_heads=arch["n_heads"],
            intermediate_size=arch["d_mlp"],
            rotary_pct=arch["rotary_dim"] / d_head,
            max_position_embeddings=arch["n_ctx"],
            use_parallel_residual=True,
            hidden_act="gelu",
        )
    ).eval()
    with torch.no_grad():
        for layer in hf.gpt_neox.layers:
            qkv = layer.attention.query_key_value
            # fused rows are ordered (head, qkv, d_head): scale the K rows and biases
            w = qkv.weight.view(arch["n_heads"], 3, d_head, -1)
            w[:, 1] *= 10.0
            qkv.bias.normal_(0.0, 0.02)
            qkv.bias.view(arch["n_heads"], 3, d_head)[:, 1] += 1.0
    cfg = neox_config(ArchConfig.from_dict(arch), 100, seed=0)
    tl = HookedTransformer(cfg, tokenizer=None)
    missing = tl.load_state_dict(convert_neox_weights(hf, cfg), strict=False).missing_keys
    assert not set(missing) & {n for n, _ in tl.named_parameters()}  # only buffers left out
    return hf, tl


def test_rerandomize_pools_statistics_per_hf_tensor():
    """Reference in HF space: each HF tensor's mean/std (the authors resampled HF tensors, and
    GPT-NeoX fuses Q, K, V into one); our transform on the converted model must draw every
    transformer-lens parameter from its HF tensor's distribution."""
    hf, tl = _hf_neox_and_converted()
    hf_params = dict(hf.named_parameters())
    qkv_std = float(hf_params["gpt_neox.layers.0.attention.query_key_value.weight"].std())
    lm = apply_init(tl, parse_init("rerandomized"), INIT_CFG, "tiny")
    new = dict(tl.named_parameters())
    # the transformed weights follow the HF tensor's distribution: Q, K and V alike
    for layer in range(2):
        ref = hf_params[f"gpt_neox.layers.{layer}.attention.query_key_value.weight"].double()
        for part in "QKV":
            w = new[f"blocks.{layer}.attn.W_{part}"]
            assert math.isclose(float(w.std()), float(ref.std()), rel_tol=0.1), (layer, part)
            assert abs(float(w.mean() - ref.mean())) < 0.1 * float(ref.std())
        b = torch.cat([new[f"blocks.{layer}.attn.b_{x}"].flatten() for x in "QKV"])
        ref_b = hf_params[f"gpt_neox.layers.{layer}.attention.query_key_value.bias"].double()
        assert math.isclose(float(b.std()), float(ref_b.std()), rel_tol=0.25)
    assert qkv_std > 0
    # the distribution parameters used are the HF tensors' own statistics
    resampled = lm.resampled
    hf_resampled = {
        n
        for n in hf_params
        if "embed" not in n
        and n != "lm_head.weight"
        and "layernorm" not in n
        and "layer_norm" not in n
    }
    assert {r["hf_tensor"] for r in resampled.values()} == hf_resampled
    for name, r in resampled.items():
        ref = hf_params[r["hf_tensor"]].detach().double()
        assert math.isclose(r["mean"], float(ref.mean()), rel_tol=1e-9, abs_tol=1e-12), name
        assert math.isclose(r["std"], float(ref.std()), rel_tol=1e-9), name
    for layer in range(2):
        q, k, v = (resampled[f"blocks.{layer}.attn.W_{x}"] for x in "QKV")
        assert q["std"] == k["std"] == v["std"] and q["mean"] == k["mean"] == v["mean"]


def test_hf_tensor_names_cover_every_parameter():
    from randsae.models.transforms import hf_tensor_name

    names = [n for n, _ in fresh().named_parameters()]
    assert {n for n in names if hf_tensor_name(n) is None} == {"unembed.b_U"}
    assert (
        hf_tensor_name("blocks.3.attn.W_K") == "gpt_neox.layers.3.attention.query_key_value.weight"
    )
    assert hf_tensor_name("blocks.3.attn.b_O") == "gpt_neox.layers.3.attention.dense.bias"


def _group_values(model, hf_tensor):
    """Sorted values of all transformer-lens parameters that come from one HF tensor."""
    from randsae.models.transforms import hf_tensor_name

    vals = [
        p.detach().reshape(-1)
        for n, p in model.named_parameters()
        if (hf_tensor_name(n) or n) == hf_tensor
    ]
    return torch.sort(torch.cat(vals)).values


@pytest.mark.parametrize("init", ["permuted", "permuted_embeddings"])
def test_permuted_keeps_each_hf_tensors_exact_multiset(init):
    """Reference: the HF tensors of a real converted GPT-NeoX (K rows at 10x the scale of Q and
    V): each HF tensor's multiset must survive exactly, while Q, K and V (one fused tensor) mix."""
    from randsae.models.transforms import hf_tensor_name

    torch.manual_seed(0)
    _hf, tl = _hf_neox_and_converted()
    before = params(tl)
    groups = {hf_tensor_name(n) or n for n in before}
    ref = {g: _group_values(tl, g) for g in groups}
    lm = apply_init(tl, parse_init(init), INIT_CFG, "tiny")
    after = params(tl)
    with_emb = init == "permuted_embeddings"
    for g in groups:
        assert torch.equal(_group_values(tl, g), ref[g]), g  # exact multiset per HF tensor
    for name, old in before.items():
        kept = (is_embedding(name) and not with_emb) or is_layer_norm(name)
        if kept:
            assert torch.equal(old, after[name]), f"{name} must be untouched"
            assert name not in lm.resampled
        elif old.numel() > 100 and old.std() > 0:
            assert not torch.equal(old, after[name]), f"{name} must be permuted"
            assert name in lm.resampled
    # the fused QKV is permuted as one tensor: K (10x scale) leaks into Q
    q_old = float(before["blocks.0.attn.W_Q"].std())
    assert float(after["blocks.0.attn.W_Q"].std()) > 3 * q_old
    # seeded: same config, same weights; another seed, other weights
    torch.manual_seed(0)
    _hf, tl2 = _hf_neox_and_converted()
    apply_init(tl2, parse_init(init), INIT_CFG, "tiny")
    assert weights_digest(tl2) == weights_digest(tl)
    torch.manual_seed(0)
    _hf, tl3 = _hf_neox_and_converted()
    apply_init(tl3, parse_init(init), INIT_CFG.replace(seed=1), "tiny")
    assert weights_digest(tl3) != weights_digest(tl)


def test_permuted_layer_norm_follows_flag():
    m = fresh()
    ln_before = params(m)["blocks.0.ln1.w"]
    with torch.no_grad():
        dict(m.named_parameters())["blocks.0.ln1.w"].copy_(torch.arange(64.0))
    lm = apply_init(m, parse_init("permuted"), INIT_CFG.replace(rerandomize_layer_norm=True), "t")
    w = params(m)["blocks.0.ln1.w"]
    assert "blocks.0.ln1.w" in lm.resampled and ln_before.numel() == 64
    assert torch.equal(torch.sort(w).values, torch.arange(64.0))
    assert not torch.equal(w, torch.arange(64.0))


def test_standard_init_is_the_architectures_own_initializer():
    """std of every weight ~ initializer_range (0.02), biases 0, layer norms (1, 0); no moment of
    the starting weights survives; seeded; a forward pass runs."""
    from transformers import GPTNeoXConfig

    rng = GPTNeoXConfig().initializer_range
    m = fresh()
    with torch.no_grad():  # start far from the HF init so nothing can be left over
        for p in m.parameters():
            p.normal_(3.0, 5.0)
    lm = apply_init(m, parse_init("standard_init"), INIT_CFG, "tiny")
    assert set(lm.resampled) == {n for n, _ in m.named_parameters()}
    for name, p in m.named_parameters():
        if name.endswith(("ln1.w", "ln2.w", "ln_final.w")):
            assert torch.equal(p, torch.ones_like(p)), name
        elif name.endswith(".b") or ".b_" in name:
            assert torch.equal(p, torch.zeros_like(p)), name
        else:
            assert math.isclose(float(p.std()), rng, rel_tol=0.1), name
            assert abs(float(p.mean())) < 0.1 * rng, name
    again = fresh()
    apply_init(again, parse_init("standard_init"), INIT_CFG, "tiny")
    assert weights_digest(again) == weights_digest(m)
    other = fresh()
    apply_init(other, parse_init("standard_init"), INIT_CFG.replace(seed=3), "tiny")
    assert weights_digest(other) != weights_digest(m)
    assert m(torch.randint(0, 100, (2, 8))).isfinite().all()


def test_new_inits_parse_and_reject_suffixes():
    from randsae.errors import ConfigError

    for name in ("permuted", "permuted_embeddings", "standard_init"):
        assert parse_init(name).base == name
    with pytest.raises(ConfigError, match="rerandomized"):
        parse_init("permuted-x2")


def test_every_registered_init_is_documented_and_parses():
    """The registry is the one list of init names: each parses, and docs/inits.md describes it."""
    from pathlib import Path

    from randsae.models.inits import INIT_BUILDERS, RESAMPLED_INITS

    doc = (Path(__file__).resolve().parent.parent / "docs" / "inits.md").read_text()
    for name in INIT_BUILDERS:
        assert parse_init(name).base == name
        assert f"`{name}`" in doc, name
    assert {"rerandomized", "rerandomized_embeddings"} == RESAMPLED_INITS
    assert parse_init("rerandomized_embeddings-x2").base == "rerandomized_embeddings"
