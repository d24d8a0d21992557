"""Tests for randsae.sae.topk (TopK SAE, fused backward, sae-lens format). Run: pytest tests/test_sae.py"""

from __future__ import annotations

import json

import pytest
import torch

from randsae.sae.topk import TopKSAE
from randsae.seeds import stable_seed


def _reference_forward(sae: TopKSAE, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Plain dense autograd forward on the same top-k support."""
    pre = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    vals = pre.gather(1, idx)
    dense = torch.zeros_like(pre).scatter(1, idx, vals)
    return dense @ sae.W_dec + sae.b_dec


def _fvu(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    return (x_hat - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()


def _grads_vs_reference(sae: TopKSAE, x: torch.Tensor, fused: bool) -> None:
    """Our sparse backward equals dense autograd on the same top-k support (float64)."""
    if fused:
        x_hat, vals, idx = sae(x)
    else:
        vals, idx = sae.encode(x)
        x_hat = sae.decode(vals, idx)
    # Loss touching both outputs, so both incoming gradients (x_hat and vals) are exercised.
    (_fvu(x, x_hat) + 0.1 * vals.pow(2).sum()).backward()
    ours = {n: p.grad.clone() for n, p in sae.named_parameters()}
    ours["x"] = x.grad.clone()
    for p in sae.parameters():
        p.grad = None
    x.grad = None
    pre = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    ref_vals = pre.gather(1, idx)
    ref_hat = torch.zeros_like(pre).scatter(1, idx, ref_vals) @ sae.W_dec + sae.b_dec
    torch.testing.assert_close(x_hat, ref_hat, rtol=0, atol=1e-12)
    (_fvu(x, ref_hat) + 0.1 * ref_vals.pow(2).sum()).backward()
    for n, p in sae.named_parameters():
        torch.testing.assert_close(ours[n], p.grad, rtol=0, atol=1e-12, msg=f"grad {n}")
    torch.testing.assert_close(ours["x"], x.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("fused", [True, False], ids=["forward", "encode+decode"])
def test_sparse_backward_matches_autograd_float64(fused: bool) -> None:
    torch.manual_seed(0)
    sae = TopKSAE(16, 64, 4, seed=1, dtype=torch.float64)
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.1)
        sae.b_dec.normal_(0, 0.5)
        sae.W_dec.mul_(torch.rand(64, 1, dtype=torch.float64) + 0.5)
    x = torch.randn(40, 16, dtype=torch.float64, requires_grad=True)
    _grads_vs_reference(sae, x, fused)


def test_sparse_backward_with_unused_latents_float64() -> None:
    """Few tokens, many latents: most latents (including the last ones) are never selected."""
    sae = TopKSAE(8, 512, 3, seed=5, dtype=torch.float64)
    with torch.no_grad():
        sae.W_enc[:, 400:] = -1.0  # keep the high latents out of every top-k
    x = torch.rand(5, 8, dtype=torch.float64, requires_grad=True)
    _, idx = sae.encode(x)
    assert idx.max() < 400
    _grads_vs_reference(sae, x, fused=True)


def test_fused_backward_relu_gate_when_few_positive() -> None:
    """With b_enc very negative, < k pre-activations are positive: those get no gradient."""
    sae = TopKSAE(8, 32, 6, seed=2, dtype=torch.float64)
    with torch.no_grad():
        sae.b_enc.fill_(-0.3)
    x = torch.randn(20, 8, dtype=torch.float64)
    vals, idx = sae.encode(x)
    assert (vals == 0).any(), "test needs some zeroed top-k entries"
    vals.sum().backward()
    got = sae.b_enc.grad.clone()
    sae.b_enc.grad = None
    pre = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    pre.gather(1, idx).sum().backward()
    torch.testing.assert_close(got, sae.b_enc.grad, rtol=0, atol=1e-12)


def test_encode_shapes_and_topk_semantics() -> None:
    sae = TopKSAE(12, 48, 5, seed=3)
    x = torch.randn(30, 12)
    vals, idx = sae.encode(x)
    assert vals.shape == idx.shape == (30, 5)
    assert idx.dtype == torch.int64 and (vals >= 0).all()
    pre = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    top = pre.topk(5, dim=1).values
    torch.testing.assert_close(vals.sort(dim=1).values, top.sort(dim=1).values)
    dense = sae.encode_dense(x)
    assert dense.shape == (30, 48)
    assert ((dense > 0).sum(1) <= 5).all()
    x_hat, v2, i2 = sae(x)
    torch.testing.assert_close(x_hat, dense @ sae.W_dec + sae.b_dec, rtol=1e-5, atol=1e-5)


def test_init_follows_paper_and_is_seeded() -> None:
    a = TopKSAE(10, 40, 4, seed=7)
    b = TopKSAE(10, 40, 4, seed=7)
    c = TopKSAE(10, 40, 4, seed=8)
    assert torch.equal(a.W_enc, b.W_enc) and not torch.equal(a.W_enc, c.W_enc)
    assert a.W_enc.shape == (10, 40) and a.W_dec.shape == (40, 10)
    assert torch.all(a.b_enc == 0) and torch.all(a.b_dec == 0)
    assert a.W_enc.abs().max() <= 1 / 10**0.5  # nn.Linear default bound 1/sqrt(fan_in)
    torch.testing.assert_close(a.W_dec.norm(dim=1), torch.ones(40))
    # decoder rows are the encoder directions, normalised
    cos = (a.W_dec * a.W_enc.t()).sum(1) / a.W_enc.t().norm(dim=1)
    torch.testing.assert_close(cos, torch.ones(40))
    with pytest.raises(ValueError, match="k"):
        TopKSAE(10, 8, 8)


def test_stable_seed_is_sha256_based() -> None:
    assert stable_seed(42, "sae-init") == stable_seed(42, "sae-init")
    assert stable_seed(42, "a") != stable_seed(42, "b")
    assert 0 <= stable_seed("x") < 2**31


def test_decoder_constraint_helpers() -> None:
    sae = TopKSAE(6, 24, 3, seed=0)
    sae.W_dec.grad = torch.randn_like(sae.W_dec)
    sae.remove_gradient_parallel_to_decoder_directions()
    par = (sae.W_dec.grad * sae.W_dec).sum(1)
    assert par.abs().max() < 1e-6
    with torch.no_grad():
        sae.W_dec.mul_(3.0)
    sae.set_decoder_norm_to_unit_norm()
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(24))


def test_save_load_roundtrip_and_sae_lens_equivalence(tmp_path) -> None:
    from sae_lens import SAE
    from sae_lens.saes.topk_sae import TopKSAEConfig

    sae = TopKSAE(16, 96, 8, seed=4)
    with torch.no_grad():  # non-trivial biases and decoder norms
        sae.b_enc.normal_(0, 0.05)
        sae.b_dec.normal_(0, 0.5)
        sae.W_dec.mul_(torch.rand(96, 1) + 0.5)
    meta = {"hook_name": "blocks.1.hook_resid_post", "model_name": "tiny", "context_size": 32}
    sae.save(tmp_path, meta)

    cfg = json.loads((tmp_path / "cfg.json").read_text())
    expected = TopKSAEConfig(d_in=16, d_sae=96, k=8, dtype="float32", device="cpu").to_dict()
    expected["metadata"].update(meta)
    assert cfg == expected

    ours = TopKSAE.load(tmp_path)
    for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
        assert torch.equal(getattr(ours, name), getattr(sae, name)), name

    sl = SAE.load_from_disk(tmp_path)
    assert sl.cfg.k == 8 and sl.cfg.metadata.hook_name == meta["hook_name"]
    x = torch.randn(64, 16)
    with torch.no_grad():
        sl_acts = sl.encode(x)
        sl_rec = sl.decode(sl_acts)
        our_dense = sae.encode_dense(x)
        our_rec, _, _ = sae(x)
    torch.testing.assert_close(our_dense, sl_acts, rtol=1e-5, atol=1e-5)
    assert torch.equal(our_dense > 0, sl_acts > 0)
    torch.testing.assert_close(our_rec, sl_rec, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    cpu = TopKSAE(32, 256, 8, seed=6)
    gpu = TopKSAE(32, 256, 8, seed=6, device="cuda")
    x = torch.randn(128, 32)
    for sae, xx in ((cpu, x), (gpu, x.cuda())):
        x_hat, _, _ = sae(xx)
        _fvu(xx, x_hat).backward()
    for n, p in cpu.named_parameters():
        q = dict(gpu.named_parameters())[n]
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-4, atol=1e-5, msg=n)
