"""SAE quality metrics: splice-tail exactness, agreement with sae-lens, noise-control invariants.

Run: ``pytest tests/test_metrics.py``. Tiny random HookedTransformer (rotary, parallel attn+MLP,
no tokenizer), real ``TopKSAE``, real sae-lens evaluation functions for the cross-check.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset
from sae_lens import SAE
from sae_lens.evals import get_downstream_reconstruction_metrics, get_sparsity_and_variance_metrics
from sae_lens.training.activation_scaler import ActivationScaler
from sae_lens.training.activations_store import ActivationsStore
from transformer_lens import HookedTransformer, HookedTransformerConfig

from randsae.evaluate.metrics import evaluate_sae
from randsae.io import to_data
from randsae.sae.activations import hook_name
from randsae.sae.topk import TopKSAE

D, CTX, V = 32, 32, 100


def _model(seed: int = 0) -> HookedTransformer:
    cfg = HookedTransformerConfig(
        n_layers=2,
        d_model=D,
        n_heads=4,
        d_head=8,
        d_mlp=64,
        n_ctx=CTX,
        d_vocab=V,
        act_fn="gelu",
        normalization_type="LN",
        positional_embedding_type="rotary",
        rotary_dim=4,
        parallel_attn_mlp=True,
        seed=seed,
    )
    return HookedTransformer(cfg).eval()


def _tokens(n_seq: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, size=(n_seq, CTX))


def _trained_like_sae(
    model: HookedTransformer, layer: int, d_sae: int = 128, k: int = 8
) -> TopKSAE:
    """A TopKSAE briefly trained (Adam, 150 full-batch steps) on held-apart activations, so the
    metrics sit in a realistic regime (EV well above 0, not exact)."""
    torch.manual_seed(0)
    sae = TopKSAE(D, d_sae, k, seed=0)
    hook = hook_name(layer)
    with torch.inference_mode():
        _, cache = model.run_with_cache(torch.as_tensor(_tokens(16, seed=9)), names_filter=[hook])
    acts = cache[hook].reshape(-1, D).clone()
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=3e-3)
    for _ in range(150):
        x_hat, _, _ = sae(acts)
        loss = (x_hat - acts).pow(2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return sae


def _identity_sae(d: int) -> TopKSAE:
    """Exact reconstruction: latents relu(x) and relu(-x), decoder [I; -I], k = d keeps all."""
    sae = TopKSAE(d, 2 * d, d, seed=0)
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", [0, 1])
def test_tail_forward_equals_full_hooked_forward(layer):
    """model(resid, start_at_layer=L+1) on the captured residual == full forward with a hook that
    replaces blocks.L.hook_resid_post (rotary, no attention mask): max abs diff < 1e-5."""
    model = _model()
    sae = _trained_like_sae(model, layer)
    tok = torch.as_tensor(_tokens(3))
    hook = hook_name(layer)
    with torch.inference_mode():
        _, cache = model.run_with_cache(tok, names_filter=[hook])
        x = cache[hook]
        x_hat, _, _ = sae(x.reshape(-1, D))
        x_hat = x_hat.reshape(x.shape)
        for repl in (x_hat, torch.zeros_like(x)):
            tail = model(repl, start_at_layer=layer + 1)
            full = model.run_with_hooks(tok, fwd_hooks=[(hook, lambda a, hook, r=repl: r)])
            assert (tail - full).abs().max().item() < 1e-5


def test_downstream_metrics_match_full_forward_reference():
    """CE / KL from evaluate_sae (tail reuse) equal a from-scratch reference with three full
    forwards per batch (1e-5 relative)."""
    model = _model()
    lm = SimpleNamespace(model=model, fwd_hooks=[])
    sae = _trained_like_sae(model, 0)
    tokens = _tokens(6)
    res = evaluate_sae(lm, sae, tokens, 0, batch_size=4)
    tok = torch.as_tensor(tokens)
    hook = hook_name(0)

    def splice(a, hook):
        return sae(a.reshape(-1, D))[0].reshape(a.shape)

    with torch.inference_mode():
        lc = model(tok)
        ls = model.run_with_hooks(tok, fwd_hooks=[(hook, splice)])
        lz = model.run_with_hooks(tok, fwd_hooks=[(hook, lambda a, hook: torch.zeros_like(a))])
    lpc = lc.log_softmax(-1)

    def ce(lg):
        return -lg.log_softmax(-1)[:, :-1].gather(-1, tok[:, 1:, None]).mean().item()

    def kl(lg):
        return (lpc.exp() * (lpc - lg.log_softmax(-1))).sum(-1).mean().item()

    assert res["ce_loss_without_sae"] == pytest.approx(ce(lc), rel=1e-5)
    assert res["ce_loss_with_sae"] == pytest.approx(ce(ls), rel=1e-5)
    assert res["ce_loss_with_ablation"] == pytest.approx(ce(lz), rel=1e-5)
    assert res["kl_div_with_sae"] == pytest.approx(kl(ls), rel=1e-5)
    assert res["kl_div_with_ablation"] == pytest.approx(kl(lz), rel=1e-5)
    assert res["ce_loss_score"] == pytest.approx((ce(lz) - ce(ls)) / (ce(lz) - ce(lc)), rel=1e-4)


# ------------------------------------------------------------------------------------------
def _saelens_store(model, tokens, layer, batch):
    ds = Dataset.from_dict({"tokens": tokens.tolist()})
    return ActivationsStore(
        model=model,
        dataset=ds,
        streaming=False,
        hook_name=hook_name(layer),
        hook_head_index=None,
        context_size=CTX,
        d_in=D,
        n_batches_in_buffer=2,
        total_training_tokens=tokens.size,
        store_batch_size_prompts=batch,
        train_batch_size_tokens=CTX * batch,
        prepend_bos=False,
        normalize_activations="none",
        device=torch.device("cpu"),
        dtype="float32",
    )


# metrics whose definitions coincide with sae-lens 6.54.12 (docs/metrics.md)
COINCIDE = [
    "explained_variance",
    "explained_variance_legacy",
    "mse",
    "cossim",
    "l0",
    "l1",
    "l2_norm_in",
    "l2_norm_out",
    "l2_ratio",
]
DOWNSTREAM = [
    "ce_loss_without_sae",
    "ce_loss_with_sae",
    "ce_loss_with_ablation",
    "ce_loss_score",
    "kl_div_with_sae",
    "kl_div_with_ablation",
    "kl_div_score",
]


@pytest.mark.parametrize(
    ("n_seq", "batch", "ignore"),
    [(8, 8, ()), (8, 4, ()), (8, 4, (3, 17))],
    ids=["one-batch", "two-batches", "two-batches-ignore-tokens"],
)
def test_agrees_with_sae_lens_evals(tmp_path, n_seq, batch, ignore):
    """Our metrics vs sae-lens's get_sparsity_and_variance_metrics /
    get_downstream_reconstruction_metrics on the same tokens and the same SAE (saved by
    TopKSAE.save, loaded by sae_lens.SAE.load_from_disk): 1e-4 relative where definitions
    coincide. relative_reconstruction_bias coincides only with a single batch (sae-lens averages
    the per-batch ratio)."""
    layer = 0
    model = _model()
    sae = _trained_like_sae(model, layer)
    sae.save(tmp_path / "sae", {"hook_name": hook_name(layer), "model_name": "tiny"})
    sl_sae = SAE.load_from_disk(str(tmp_path / "sae"), device="cpu")
    tokens = _tokens(n_seq, seed=3)
    n_batches = n_seq // batch
    scaler = ActivationScaler()
    ign = list(ignore) or None

    sv, feat = get_sparsity_and_variance_metrics(
        sl_sae,
        model,
        _saelens_store(model, tokens, layer, batch),
        scaler,
        n_batches=n_batches,
        compute_l2_norms=True,
        compute_sparsity_metrics=True,
        compute_variance_metrics=True,
        compute_featurewise_density_statistics=True,
        eval_batch_size_prompts=batch,
        model_kwargs={},
        ignore_tokens=ign,
    )
    ds = get_downstream_reconstruction_metrics(
        sl_sae,
        model,
        _saelens_store(model, tokens, layer, batch),
        scaler,
        compute_kl=True,
        compute_ce_loss=True,
        n_batches=n_batches,
        eval_batch_size_prompts=batch,
        ignore_tokens=ign,
    )
    ours = evaluate_sae(
        SimpleNamespace(model=model, fwd_hooks=[]),
        sae,
        tokens,
        layer,
        batch_size=batch,
        ignore_token_ids=ignore,
    )
    if ignore:
        assert ours["n_tokens"] == int((~np.isin(tokens, ignore)).sum()) < tokens.size
    for key in COINCIDE:
        assert ours[key] == pytest.approx(sv[key], rel=1e-4), key
    for key in DOWNSTREAM:
        assert ours[key] == pytest.approx(ds[key], rel=1e-4), key
    if n_batches == 1:
        assert ours["relative_reconstruction_bias"] == pytest.approx(
            sv["relative_reconstruction_bias"], rel=1e-4
        )
    np.testing.assert_allclose(
        ours["latent_density"], feat["feature_density"], rtol=1e-5, atol=1e-9
    )
    np.testing.assert_allclose(
        np.nan_to_num(ours["latent_consistent_activation"]),
        np.nan_to_num(np.asarray(feat["consistent_activation_heuristic"])),
        rtol=1e-5,
        atol=1e-9,
    )
    # sanity: realistic regime, and the three EV variants differ as documented
    assert 0.1 < ours["explained_variance"] < 1.0
    assert ours["explained_variance_about_zero"] > ours["explained_variance"]


# ------------------------------------------------------------------------------------------
def test_batch_invariance_and_internal_consistency():
    """Everything except explained_variance_legacy (a per-batch definition) is independent of
    batch_size (1e-6 relative); fvu = 1 - EV; sparsity bookkeeping is consistent."""
    model = _model()
    lm = SimpleNamespace(model=model, fwd_hooks=[])
    sae = _trained_like_sae(model, 1)
    tokens = _tokens(9)
    a = evaluate_sae(lm, sae, tokens, 1, batch_size=9)
    b = evaluate_sae(lm, sae, tokens, 1, batch_size=2)
    for key, va in a.items():
        if isinstance(va, np.ndarray) or key in ("explained_variance_legacy", "hook_name"):
            continue
        assert b[key] == pytest.approx(va, rel=1e-6, abs=1e-12), key
    np.testing.assert_array_equal(a["density_hist_counts"], b["density_hist_counts"])
    assert a["fvu"] == pytest.approx(1 - a["explained_variance"], abs=1e-12)
    assert a["l0"] <= sae.k + 1e-12
    assert a["n_alive"] + a["n_dead"] == sae.d_sae
    assert a["density_hist_counts"].sum() == a["n_alive"]
    assert a["latent_density"].sum() == pytest.approx(a["l0"], rel=1e-9)
    assert a["ce_loss_increase"] == pytest.approx(a["ce_loss_with_sae"] - a["ce_loss_without_sae"])
    js = to_data(a, nan_to_none=True)
    assert isinstance(js["latent_density"], list) and isinstance(js["mse"], float)


def test_identity_sae_gives_perfect_scores():
    model = _model()
    res = evaluate_sae(
        SimpleNamespace(model=model, fwd_hooks=[]), _identity_sae(D), _tokens(4), 0, batch_size=2
    )
    assert res["explained_variance"] == pytest.approx(1.0, abs=1e-5)
    assert res["kl_div_with_sae"] == pytest.approx(0.0, abs=1e-5)
    assert res["ce_loss_score"] == pytest.approx(1.0, abs=1e-4)
    assert res["kl_div_score"] == pytest.approx(1.0, abs=1e-4)


def test_noise_control_shares_noise_between_clean_and_spliced_passes():
    """With the Gaussian-noise control hook (fresh noise on every hook_embed call), an exact SAE
    must leave the logits unchanged (KL ≈ 0, CE_sae = CE_clean): the spliced passes reuse the
    clean residual, so they see the same noise draw. A second evaluation draws new noise, so
    the clean CE changes while the exactness still holds."""
    model = _model()
    gen = torch.Generator().manual_seed(0)

    def noise(act, hook):
        return torch.randn(act.shape, generator=gen, dtype=act.dtype)

    lm = SimpleNamespace(model=model, fwd_hooks=[("hook_embed", noise)])
    tokens = _tokens(4)
    r1 = evaluate_sae(lm, _identity_sae(D), tokens, 0, batch_size=2)
    r2 = evaluate_sae(lm, _identity_sae(D), tokens, 0, batch_size=2)
    for r in (r1, r2):
        assert r["kl_div_with_sae"] == pytest.approx(0.0, abs=1e-5)
        assert r["ce_loss_with_sae"] == pytest.approx(r["ce_loss_without_sae"], abs=1e-5)
        assert r["kl_div_with_ablation"] > 1e-3
    assert abs(r1["ce_loss_without_sae"] - r2["ce_loss_without_sae"]) > 1e-6
    # the noise hook is active: the clean CE differs from the token-driven model's
    r_tok = evaluate_sae(
        SimpleNamespace(model=model, fwd_hooks=[]), _identity_sae(D), tokens, 0, batch_size=2
    )
    assert abs(r_tok["ce_loss_without_sae"] - r1["ce_loss_without_sae"]) > 1e-4
    # hooks were temporary
    assert not any(hp.fwd_hooks for hp in model.hook_dict.values())


def test_zero_ablation_from_one_position_equals_the_full_tail():
    """Without lm.fwd_hooks the zero-ablated tail is run on one position and shared; it equals
    the full (b, ctx) zero tail, which runs whenever hooks are present (a no-op hook here)."""
    model = _model()
    sae = _trained_like_sae(model, 0)
    tokens = _tokens(5)
    noop = [("blocks.1.hook_resid_pre", lambda act, hook: act)]
    fast = evaluate_sae(SimpleNamespace(model=model, fwd_hooks=[]), sae, tokens, 0, batch_size=2)
    full = evaluate_sae(SimpleNamespace(model=model, fwd_hooks=noop), sae, tokens, 0, batch_size=2)
    for key in ("ce_loss_with_ablation", "kl_div_with_ablation", "ce_loss_score", "kl_div_score"):
        assert fast[key] == pytest.approx(full[key], rel=1e-5, abs=1e-7), key
    assert fast["ce_loss_with_sae"] == pytest.approx(full["ce_loss_with_sae"], rel=1e-6)


def test_ignore_positions_equals_ignoring_a_token_placed_there():
    """eval.ignore_positions [0] leaves out the first position of every sequence exactly as
    ignore_token_ids does for a token id that occurs only there (SAEBench's BOS), and changes
    the metrics relative to keeping it."""
    model = _model()
    lm = SimpleNamespace(model=model, fwd_hooks=[])
    sae = _trained_like_sae(model, 1)
    tokens = _tokens(6) % (V - 1)
    tokens[:, 0] = V - 1  # an id that occurs only at position 0
    by_pos = evaluate_sae(lm, sae, tokens, 1, batch_size=3, ignore_positions=[0])
    by_tok = evaluate_sae(lm, sae, tokens, 1, batch_size=3, ignore_token_ids=[V - 1])
    both = evaluate_sae(lm, sae, tokens, 1, batch_size=3, ignore_positions=[0, -CTX])
    kept = evaluate_sae(lm, sae, tokens, 1, batch_size=3)
    assert by_pos["n_tokens"] == 6 * (CTX - 1) == kept["n_tokens"] - 6
    for key, v in by_tok.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_allclose(by_pos[key], v, rtol=1e-9, atol=1e-12)
        elif key != "hook_name":
            assert by_pos[key] == pytest.approx(v, rel=1e-9, abs=1e-12), key
            assert both[key] == pytest.approx(v, rel=1e-9, abs=1e-12), key
    assert by_pos["explained_variance"] != pytest.approx(kept["explained_variance"], rel=1e-6)
