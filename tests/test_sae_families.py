"""SAE families through sae-lens's trainer, activation normalisation, the generic SAE loader.

Run: pytest tests/test_sae_families.py
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from tiny_models import sae_section

from randsae.errors import ConfigError
from randsae.sae.families import SAELensCodes, cat_codes, load_sae
from randsae.sae.topk import TopKSAE
from randsae.sae.train import train_sae

D = 16


def _data(scale: float = 1.0, n: int = 2048, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(64, D, generator=g)
    codes = torch.rand(n, 64, generator=g) * (torch.rand(n, 64, generator=g) < 0.05)
    return (codes @ basis + 0.5) * scale


def _source(x: torch.Tensor, bs: int):
    while True:
        for i in range(0, len(x) - bs + 1, bs):
            yield x[i : i + bs]


def _cfg(**kw):
    over = dict(n_tokens=256 * 20, lr=1e-3, sparsity_coefficient=0.01, shuffle_buffer_tokens=1024)
    return sae_section(**{**over, **kw})


@pytest.mark.parametrize("arch", ["relu", "jumprelu", "gated", "batchtopk"])
def test_family_saves_a_sae_lens_checkpoint_that_feeds_the_sparse_code_interface(tmp_path, arch):
    from sae_lens import SAE

    x = _data()
    out = tmp_path / arch
    summary = train_sae(
        _source(x, 256), d_in=D, cfg=_cfg(architecture=arch), seed=3, out_dir=out, progress=False
    )
    assert summary["architecture"] == arch and summary["d_sae"] == 4 * D
    assert math.isfinite(summary["fvu"]) and summary["l0"] > 0
    cfg = json.loads((out / "cfg.json").read_text())
    # batchtopk is saved for inference as JumpReLU (its learned threshold), as sae-lens does
    expected = {"relu": "standard", "batchtopk": "jumprelu"}.get(arch, arch)
    assert cfg["architecture"] == expected
    sl = SAE.load_from_disk(str(out))  # sae-lens itself loads it
    codes = load_sae(out)
    assert isinstance(codes, SAELensCodes) and codes.d_sae == 4 * D
    xb = x[:300]
    vals, idx = codes.encode(xb)
    dense = sl.encode(xb).detach()
    # the sparse codes are exactly the dense codes: active count per token and the values
    assert torch.equal((vals != 0).sum(1), (dense != 0).sum(1))
    back = torch.zeros_like(dense).scatter_(1, idx, vals)
    assert torch.equal(back, dense)
    torch.testing.assert_close(codes.decode(vals, idx), sl.decode(dense).detach())
    # a second run with the same seed gives the same SAE
    out2 = tmp_path / (arch + "2")
    train_sae(
        _source(x, 256), d_in=D, cfg=_cfg(architecture=arch), seed=3, out_dir=out2, progress=False
    )
    assert torch.equal(load_sae(out2).sae.W_enc, codes.sae.W_enc)


def _recon_mse(sae, x):
    from randsae.evaluate.metrics import _sae_encode_decode

    x_hat, vals, idx = _sae_encode_decode(sae, x)
    x_hat = x_hat.detach()
    return float((x_hat - x).pow(2).sum(-1).mean()), x_hat


@pytest.mark.parametrize("arch", ["topk", "relu"])
def test_expected_average_only_in_is_folded_metrics_in_original_scale(tmp_path, arch):
    """Activations 1000x larger than sqrt(d_in): the SAE trains on s * x (s = sqrt(d_in) /
    E||x|| of the first batch); the saved SAE (factor folded in, cfg 'none') applied to the
    original-scale x that evaluation feeds it gives exactly the trained SAE's output on s * x,
    divided by s — so MSE / EV are in the original units."""
    import copy

    from randsae.sae.families import FamilyJob
    from randsae.sae.train import _SAEJob

    x = _data(1000.0)
    cfg = _cfg(architecture=arch, normalize_activations="expected_average_only_in")
    job_cls = _SAEJob if arch == "topk" else FamilyJob
    job = job_cls("k", d_in=D, cfg=cfg, seed=1, device=torch.device("cpu"), total_steps=20)
    batches = _source(x, 256)
    for _ in range(20):
        job.train_step(next(batches))
    s = math.sqrt(D) / float(x[:256].norm(dim=-1).mean())
    assert math.isclose(job.scale, s, rel_tol=1e-5)
    trained = copy.deepcopy(job.sae if arch == "topk" else job.sl_sae)
    job.finalize().save(tmp_path / "n", {"layer": 0})
    saved = json.loads((tmp_path / "n" / "cfg.json").read_text())
    assert saved["normalize_activations"] == "none"
    sae = load_sae(tmp_path / "n")
    assert isinstance(sae, TopKSAE if arch == "topk" else SAELensCodes)
    xb = x[:512]
    _mse, x_hat = _recon_mse(sae, xb)
    with torch.no_grad():
        if arch == "topk":
            v, i = trained.encode(s * xb)
            ref = trained.decode(v, i) / s
        else:
            ref = trained.decode(trained.encode(s * xb)) / s
    torch.testing.assert_close(x_hat, ref, rtol=1e-4, atol=1e-3 * float(xb.abs().mean()))
    # the original-scale reconstruction is not the normalised one
    assert float(x_hat.norm(dim=-1).mean()) > 50 * math.sqrt(D)


def test_expected_average_only_in_end_to_end_reconstructs_original_scale(tmp_path):
    x = _data(1000.0)
    cfg = _cfg(normalize_activations="expected_average_only_in", n_tokens=256 * 60, lr=3e-3)
    train_sae(_source(x, 256), d_in=D, cfg=cfg, seed=1, out_dir=tmp_path / "t", progress=False)
    sae = load_sae(tmp_path / "t")
    xb = x[:512]
    mse, x_hat = _recon_mse(sae, xb)
    ev = 1 - mse / float((xb - xb.mean(0)).pow(2).sum(-1).mean())
    ratio = float(x_hat.norm(dim=-1).mean() / xb.norm(dim=-1).mean())
    assert 0.5 < ratio < 1.5 and ev > 0.2, (ratio, ev)


def test_constant_norm_rescale_is_applied_by_the_saved_sae(tmp_path):
    x = _data(1000.0)
    cfg = _cfg(architecture="relu", normalize_activations="constant_norm_rescale")
    train_sae(_source(x, 256), d_in=D, cfg=cfg, seed=1, out_dir=tmp_path / "c", progress=False)
    assert json.loads((tmp_path / "c" / "cfg.json").read_text())["normalize_activations"] == (
        "constant_norm_rescale"
    )
    sae = load_sae(tmp_path / "c")
    xb = x[:512]
    _mse, x_hat = _recon_mse(sae, xb)
    # the SAE normalises each token itself and undoes it in decode: output at the input's scale
    ref = sae.sae.decode(sae.sae.encode(xb)).detach()
    torch.testing.assert_close(x_hat, ref)
    assert float(x_hat.norm(dim=-1).mean()) > 50 * math.sqrt(D)


def test_cat_codes_pads_with_inactive_entries():
    v, i = cat_codes(
        [torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0]])],
        [torch.tensor([[4, 5]]), torch.tensor([[6]])],
    )
    assert v.tolist() == [[1.0, 2.0], [3.0, 0.0]] and i.tolist() == [[4, 5], [6, 0]]


def test_family_config_errors_name_the_key():
    assert _cfg(architecture="topk").architecture == "topk"
    for over, match in [
        ({"architecture": "bogus"}, "sae.architecture"),
        ({"normalize_activations": "zscore"}, "sae.normalize_activations"),
        ({"normalize_activations": "layer_norm"}, "sae-lens family"),
        ({"architecture": "relu", "backend": "saelens"}, "sae.backend"),
        ({"architecture": "gated", "micro_batch_size": 64}, "sae.micro_batch_size"),
    ]:
        with pytest.raises(ConfigError, match=match):
            _cfg(**over)


def test_n_latents_replaces_expansion_factor(tmp_path):
    from randsae.sections import SAEConfig

    assert _cfg().width(16) == 64
    assert _cfg(n_latents=100).width(16) == 100
    assert _cfg(n_latents=50).width(8) == 50
    with pytest.raises(ConfigError, match="sae.k"):
        _cfg(n_latents=4).width(8)  # k = 4 latents of 4
    assert isinstance(_cfg(), SAEConfig)
    summary = train_sae(
        _source(_data(), 256),
        d_in=D,
        cfg=_cfg(n_latents=40),
        seed=0,
        out_dir=tmp_path / "w",
        progress=False,
    )
    assert summary["d_sae"] == 40 and load_sae(tmp_path / "w").d_sae == 40


@pytest.mark.parametrize(
    ("arch", "norm"),
    [("jumprelu", "expected_average_only_in"), ("topk", "expected_average_only_in")],
)
def test_crash_and_resume_gives_identical_family_sae(tmp_path, arch, norm):
    """A checkpointed family / normalised run resumed after a crash gives the same SAE (the
    scaling factor is part of the checkpoint)."""
    from safetensors.torch import load_file

    x = _data(1000.0)
    cfg = _cfg(architecture=arch, normalize_activations=norm, checkpoint_every_steps=5)

    class Crash:
        def __init__(self, n):
            self.it, self.n, self.pos = _source(x, 256), n, 0

        def __next__(self):
            if self.pos == self.n:
                raise RuntimeError("simulated crash")
            self.pos += 1
            return next(self.it)

        def state_dict(self):
            return {"pos": self.pos}

        def load_state_dict(self, s):
            for _ in range(s["pos"]):
                next(self)

    train_sae(_source(x, 256), d_in=D, cfg=cfg, seed=2, out_dir=tmp_path / "ref", progress=False)
    ck = tmp_path / "ck"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_sae(
            Crash(13),
            d_in=D,
            cfg=cfg,
            seed=2,
            out_dir=tmp_path / "r",
            checkpoint_dir=ck,
            progress=False,
        )
    assert (ck / "checkpoint.pt").is_file()
    train_sae(
        Crash(10**9),
        d_in=D,
        cfg=cfg,
        seed=2,
        out_dir=tmp_path / "r",
        checkpoint_dir=ck,
        progress=False,
    )
    a = load_file(str(tmp_path / "ref" / "sae_weights.safetensors"))
    b = load_file(str(tmp_path / "r" / "sae_weights.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_eval_records_the_family_from_the_saved_sae(tmp_path):
    from randsae.evaluate.cell import sae_family

    x = _data()
    cfg = _cfg(architecture="gated", normalize_activations="expected_average_only_in")
    train_sae(_source(x, 256), d_in=D, cfg=cfg, seed=0, out_dir=tmp_path / "g", progress=False)
    assert sae_family(str(tmp_path / "g")) == {
        "sae_architecture": "gated",
        "sae_normalize_activations": "expected_average_only_in",
    }
    train_sae(_source(x, 256), d_in=D, cfg=_cfg(), seed=0, out_dir=tmp_path / "t", progress=False)
    meta = json.loads((tmp_path / "t" / "cfg.json").read_text())["metadata"]
    assert "sae_architecture" not in meta  # the paper's default writes the same cfg.json
    assert sae_family(str(tmp_path / "t")) == {
        "sae_architecture": "topk",
        "sae_normalize_activations": "none",
    }
