"""sae.precision and the trainer's speed levers on CPU: every mode trains, bf16 matches fp32 in
quality at equal tokens, the levers change no result, and the chunked top-k is torch.topk's."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_models import sae_section

from randsae.errors import ConfigError
from randsae.sae import select
from randsae.sae.curve import fired_latents
from randsae.sae.job import _SAEJob
from randsae.sae.levers import Levers, parse_levers
from randsae.sae.precision import LowPrecisionWeights, resolve_precision
from randsae.sae.topk import TopKSAE
from randsae.sae.train import train_sae

CPU = torch.device("cpu")


def sae_cfg(**kw):
    return sae_section(
        **{
            "k": 4,
            "expansion_factor": 64,
            "n_tokens": 512 * 150,
            "batch_size": 512,
            "lr": None,
            "warmup_steps": 5,
            "b_dec_init": "geometric_median",
            "precision": "float32",
            **kw,
        }
    )


def subspace_data(d: int, n_batches: int, bs: int, k: int = 4, sub: int = 8) -> list[torch.Tensor]:
    """Sparse combinations of 4d unit features that span only ``sub`` of the ``d`` dimensions
    (so that a good share of a 64x SAE's latents never fires: the dead fraction is material)."""
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(d, d, generator=g))[0][:sub]
    feats = torch.randn(4 * d, sub, generator=g) @ basis
    feats /= feats.norm(dim=1, keepdim=True)
    out = []
    for i in range(n_batches):
        gi = torch.Generator().manual_seed(1000 + i)
        idx = torch.randint(0, 4 * d, (bs, k), generator=gi)
        mag = torch.rand(bs, k, generator=gi) * 2 + 0.5
        z = torch.zeros(bs, 4 * d).scatter_add_(1, idx, mag)
        out.append(z @ feats + 0.05 * torch.randn(bs, d, generator=gi))
    return out


def run_job(data, cfg, levers=None, seed=1):
    job = _SAEJob(
        "t",
        d_in=data[0].shape[1],
        cfg=cfg,
        seed=seed,
        device=CPU,
        total_steps=len(data),
        levers=levers or Levers(),
    )
    for x in data:
        job.train_step(x)
    return job


def test_auto_is_bfloat16_on_cuda_and_float32_elsewhere():
    assert resolve_precision("auto", "cpu") == "float32"
    assert resolve_precision("auto", torch.device("cuda")) == "bfloat16"
    assert resolve_precision(None, "cpu") == "float32"
    assert resolve_precision("tf32", "cpu") == "tf32"
    with pytest.raises(ConfigError, match=r"sae\.precision"):
        sae_cfg(precision="fp8")


@pytest.mark.parametrize("precision", ["float32", "tf32", "bfloat16", "auto"])
def test_every_precision_trains_and_is_recorded(tmp_path, precision):
    data = subspace_data(32, 12, 256)
    cfg = sae_cfg(precision=precision, n_tokens=256 * 12, batch_size=256, micro_batch_size=128)
    out = tmp_path / precision
    summary = train_sae(iter(data), d_in=32, cfg=cfg, seed=3, out_dir=out, progress=False)
    resolved = "float32" if precision == "auto" else precision
    assert summary["precision"] == resolved and summary["levers"] == Levers().as_dict()
    assert summary["fvu"] < 0.9 and torch.isfinite(torch.tensor(summary["loss"]))
    meta = json.loads((out / "cfg.json").read_text())
    assert meta["dtype"] == "float32" and meta["metadata"]["training_precision"] == resolved
    sae = TopKSAE.load(out)  # the saved SAE is fp32 whatever the training precision
    assert sae.W_enc.dtype == torch.float32
    if precision == "bfloat16":  # and sae-lens reads it, metadata included
        from sae_lens import SAE

        sl = SAE.load_from_disk(out)
        assert sl.W_enc.dtype == torch.float32
        assert sl.cfg.metadata.training_precision == "bfloat16"
        torch.testing.assert_close(sl.W_dec.detach(), sae.W_dec.detach())


def test_cpu_tf32_and_auto_are_bit_identical_to_float32():
    """No TF32 on a CPU: the tf32 and auto modes run exactly the float32 arithmetic there."""
    data = subspace_data(32, 6, 256)
    cfg = sae_cfg(n_tokens=256 * 6, batch_size=256)
    ref = run_job(data, cfg)
    for precision in ("tf32", "auto"):
        other = run_job(data, cfg.replace(precision=precision))
        assert other.log == ref.log
        assert torch.equal(other.sae.W_enc, ref.sae.W_enc)


def test_bfloat16_quality_parity_with_float32_at_equal_tokens():
    """bf16 encoder matmul: final FVU within 1 % (relative) and dead fraction within 1 pp."""
    data = subspace_data(32, 150, 512)
    fp32 = run_job(data, sae_cfg(precision="float32"))
    bf16 = run_job(data, sae_cfg(precision="bfloat16"))
    assert bf16.sae.settings.lowp is not None and fp32.sae.settings.lowp is None

    def final(job):
        rows = job.log[-10:]
        return sum(r["fvu"] for r in rows) / len(rows), job.log[-1]["dead_frac"]

    (fvu32, dead32), (fvu16, dead16) = final(fp32), final(bf16)
    assert dead32 > 0.1  # the data leave many latents dead: the check has teeth
    assert abs(fvu16 - fvu32) / fvu32 < 0.01, (fvu16, fvu32)
    assert abs(dead16 - dead32) < 0.01, (dead16, dead32)
    assert fp32.sae.W_enc.dtype == bf16.sae.W_enc.dtype == torch.float32  # fp32 master weights
    state = bf16.optimizer.state_dict()["state"]
    assert all(v.dtype == torch.float32 for s in state.values() for v in s.values() if v.ndim)


def test_bf16_weight_copy_is_remade_after_every_update():
    data = subspace_data(32, 3, 256)
    job = run_job(data, sae_cfg(precision="bfloat16", n_tokens=256 * 3, batch_size=256))
    lowp = job.sae.settings.lowp
    w, _ = lowp.get(job.sae.W_enc_rows, job.sae.b_enc)
    torch.testing.assert_close(w.float(), job.sae.W_enc_rows.detach(), atol=1e-2, rtol=1e-2)
    assert w.dtype == torch.bfloat16
    cache = LowPrecisionWeights(torch.bfloat16)
    a = torch.ones(4, 3)
    first = cache.get(a, torch.zeros(4))[0]
    assert cache.get(a, torch.zeros(4))[0] is not first  # a new bias tensor: new key
    b = torch.zeros(4)
    first = cache.get(a, b)[0]
    assert cache.get(a, b)[0] is first
    a.add_(1.0)  # version bump
    assert cache.get(a, b)[0][0, 0] == 2.0


def test_metrics_every_changes_no_result(tmp_path):
    """The curve read back every step or every 7 steps: same rows, same weights."""
    data = subspace_data(32, 20, 256)
    cfg = sae_cfg(n_tokens=256 * 20, batch_size=256, micro_batch_size=128)
    every = run_job(data, cfg, Levers(metrics_every=1))
    lazy = run_job(data, cfg, Levers(metrics_every=7))
    assert len(lazy._pending) == 20 % 7  # rows not yet read back stay on the device
    assert lazy.log == every.log and len(lazy.log) == 20
    assert lazy.new_rows() == every.log  # handed out once each
    assert lazy.new_rows() == []
    assert torch.equal(lazy.sae.W_dec, every.sae.W_dec)
    assert torch.equal(lazy.tokens_since_fired, every.tokens_since_fired)


def test_fired_latents_matches_boolean_indexing():
    g = torch.Generator().manual_seed(0)
    vals = torch.randn(64, 5, generator=g).clamp_min(0)
    idx = torch.randint(0, 40, (64, 5), generator=g)
    ref = torch.zeros(40, dtype=torch.bool)
    ref[idx[vals > 0]] = True
    assert torch.equal(fired_latents(vals, idx, 40), ref)


def _index_sets(idx):
    return [sorted(r) for r in idx.tolist()]


@pytest.mark.parametrize("kind", ["continuous", "bf16_ties", "integer_ties"])
def test_chunked_topk_returns_torch_topk_index_sets(kind):
    g = torch.Generator().manual_seed(1)
    pre = torch.randn(300, 2048, generator=g)
    if kind == "bf16_ties":
        pre = pre.bfloat16()
    elif kind == "integer_ties":
        pre = torch.randint(0, 40, (300, 2048), generator=g).float()
    vals, idx = select.chunked_topk(pre, 32, chunk=256)
    ref_vals, ref_idx = pre.topk(32, dim=-1, sorted=False)
    assert _index_sets(idx) == _index_sets(ref_idx)
    assert torch.equal(vals.sort(dim=1).values, ref_vals.sort(dim=1).values)
    assert torch.equal(pre.gather(1, idx), vals)


def test_chunked_topk_trains_the_same_sae():
    data = subspace_data(32, 8, 256)
    cfg = sae_cfg(n_tokens=256 * 8, batch_size=256)
    ref = run_job(data, cfg)
    chunked = run_job(data, cfg, Levers(topk="chunked", topk_chunk=256))
    for a, b in zip(chunked.log, ref.log, strict=True):
        assert a["l0"] == b["l0"] and a["dead_frac"] == b["dead_frac"]
        assert a["fvu"] == pytest.approx(b["fvu"], rel=1e-5)  # only the sum order differs
    torch.testing.assert_close(chunked.sae.W_enc, ref.sae.W_enc, rtol=1e-4, atol=1e-6)


def test_levers_parse_and_reject_unknown_values():
    lv = parse_levers("metrics_every=4, topk=chunked,pin_memory=0,stream_block=host")
    assert (lv.metrics_every, lv.topk, lv.pin_memory, lv.stream_block) == (
        4,
        "chunked",
        False,
        "host",
    )
    with pytest.raises(ValueError, match="topk"):
        parse_levers("topk=radix")
    with pytest.raises(ValueError, match="name=value"):
        parse_levers("speed=11")


def test_the_trainer_imports_no_workflow_or_gpu_package():
    """randsae.sae.train runs from the source tree on a bare GPU image (torch, numpy,
    safetensors, tqdm): no transformer_lens, sae_lens, snakemake, yaml, pandas or triton."""
    import subprocess
    import sys

    code = (
        "import sys; import randsae.sae.train; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout.split())  # fmt: skip
    forbidden = {"transformer_lens", "sae_lens", "snakemake", "yaml", "pandas", "triton"}
    assert mods & forbidden == set() and {"torch", "safetensors", "tqdm"} <= mods


@pytest.mark.slow
def test_compiled_epilogue_matches_the_eager_one():
    """Lever compile_epilogue: torch.compile'd decoder constraints (inductor on the CPU)."""
    data = subspace_data(32, 3, 256)
    cfg = sae_cfg(n_tokens=256 * 3, batch_size=256)
    ref = run_job(data, cfg)
    comp = run_job(data, cfg, Levers(compile_epilogue=True))
    assert comp.sae._compiled is not None and ref.sae._compiled is None
    torch.testing.assert_close(comp.sae.W_dec, ref.sae.W_dec, rtol=1e-5, atol=1e-6)
    norms = torch.linalg.vector_norm(comp.sae.W_dec, dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_auto_trains_in_bf16_with_fp32_quality():
    """On CUDA ``auto`` is bf16; quality matches fp32 and the lazily read curve is the same."""
    dev = torch.device("cuda")
    data = [x.to(dev) for x in subspace_data(32, 150, 512)]

    def job(precision, levers=None):
        j = _SAEJob("g", d_in=32, cfg=sae_cfg(precision=precision), seed=1, device=dev,
                    total_steps=len(data), levers=levers or Levers())  # fmt: skip
        for x in data:
            j.train_step(x)
        return j

    auto, fp32 = job("auto"), job("float32")
    assert auto.precision == "bfloat16" and auto.sae.W_enc.dtype == torch.float32
    fvu = [sum(r["fvu"] for r in j.log[-10:]) / 10 for j in (auto, fp32)]
    assert abs(fvu[0] - fvu[1]) / fvu[1] < 0.01
    assert abs(auto.log[-1]["dead_frac"] - fp32.log[-1]["dead_frac"]) < 0.01
    assert job("auto", Levers(metrics_every=1)).log == auto.log


def test_bias_gradient_bag_sum_equals_index_add():
    """CUDA sums db_enc as an in-order bag sum (its index_add_ is atomic); same numbers."""
    from randsae.sae.topk import _LatentMajor

    g = torch.Generator().manual_seed(4)
    idx = torch.stack([torch.randperm(50, generator=g)[:6] for _ in range(30)])
    w = torch.randn(30, 6, generator=g, dtype=torch.float64)
    lm = _LatentMajor(idx, 50)
    bag = lm.scatter_rows(w, w.new_ones(30, 1)).view(50)
    torch.testing.assert_close(bag, lm.scatter_scalars(w, 50))
