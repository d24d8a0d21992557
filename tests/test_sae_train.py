"""Tests for randsae.sae.train (recipe, backends, checkpoints). Run: pytest tests/test_sae_train.py"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import sae_section

from randsae.sae.act_source import CachedActivationSource
from randsae.sae.topk import TopKSAE
from randsae.sae.train import (
    DEAD_WINDOW_TOKENS,
    auto_lr,
    geometric_median,
    linear_warmup_decay,
    train_sae,
)

D_IN = 32


def planted_acts(
    n: int, d: int = D_IN, n_atoms: int = 128, active: int = 4, seed: int = 0
) -> np.ndarray:
    """Tokens that are sparse sums of planted unit directions plus an offset (SAE-learnable)."""
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((n_atoms, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    idx = np.stack([rng.choice(n_atoms, active, replace=False) for _ in range(n)])
    coef = rng.exponential(1.0, (n, active))
    x = np.einsum("nk,nkd->nd", coef, atoms[idx]) + 0.5
    return x.astype(np.float32)


def write_cache(root: Path, acts: np.ndarray, layer: int = 0, shard_tokens: int = 4096) -> Path:
    """Minimal activation cache (docs/architecture.md format)."""
    (root / f"layer{layer}").mkdir(parents=True, exist_ok=True)
    names = []
    for i, s in enumerate(range(0, len(acts), shard_tokens)):
        rel = f"layer{layer}/shard_{i:05d}.npy"
        np.save(root / rel, acts[s : s + shard_tokens])
        names.append(rel)
    (root / "manifest.json").write_text(
        json.dumps(
            {
                "model": "m",
                "init": "i",
                "layers": [layer],
                "d_model": acts.shape[1],
                "dtype": "float32",
                "n_tokens": len(acts),
                "context_size": 64,
                "shard_tokens": shard_tokens,
                "shards": {str(layer): names},
            }
        )
    )
    return root


def sae_cfg(**over):
    """The SAEConfig these tests train: lr 1e-2, 5 warm-up steps, then ``over``."""
    return sae_section(**{"lr": 1e-2, "warmup_steps": 5, **over})


def make_source(cache: Path, cfg, seed: int = 0) -> CachedActivationSource:
    return CachedActivationSource(
        cache,
        0,
        batch_size=cfg.batch_size,
        n_tokens=cfg.n_tokens,
        buffer_tokens=cfg.shuffle_buffer_tokens,
        seed=seed,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return write_cache(tmp_path_factory.mktemp("cache"), planted_acts(32768))


def test_auto_lr_matches_fork_formula() -> None:
    assert auto_lr(2**14) == pytest.approx(2e-4)
    assert auto_lr(64 * 512) == pytest.approx(2e-4 / math.sqrt(2))


def test_schedule_is_linear_warmup_then_linear_decay_to_zero() -> None:
    f = linear_warmup_decay(4, 20)
    assert [f(s) for s in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert f(12) == pytest.approx(0.5) and f(20) == 0.0 and f(25) == 0.0


def test_geometric_median_is_robust() -> None:
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [100.0, 100.0]])
    gm = geometric_median(pts)
    assert gm.norm() < 2.0 and pts.mean(0).norm() > 20  # the mean is dragged, the median is not
    sym = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    torch.testing.assert_close(geometric_median(sym), torch.zeros(2), atol=1e-4, rtol=0)


def test_fused_training_learns_and_writes_outputs(cache: Path, tmp_path: Path) -> None:
    cfg = sae_cfg()
    out = tmp_path / "sae"
    log = tmp_path / "log.csv"
    meta = {"hook_name": "blocks.0.hook_resid_post", "model_name": "m", "context_size": 64}
    summary = train_sae(
        make_source(cache, cfg), d_in=D_IN, cfg=cfg, seed=1, out_dir=out, metadata=meta, log_csv=log
    )
    rows = list(csv.DictReader(log.read_text().splitlines()))
    assert list(rows[0]) == ["tokens", "step", "loss", "fvu", "l0", "dead_frac", "lr"]
    assert len(rows) == summary["steps"] == 128
    assert int(rows[-1]["tokens"]) == summary["tokens"] == 32768
    assert float(rows[0]["lr"]) == 0.0 and float(rows[5]["lr"]) == pytest.approx(1e-2)
    first, last = float(rows[1]["fvu"]), summary["fvu"]
    assert last < 0.5 * first and last < 0.3, (first, last)  # planted dictionary is learnable
    assert summary["backend"] == "fused" and summary["tokens_per_s"] > 0
    assert summary["dead_window_tokens"] == min(DEAD_WINDOW_TOKENS, 32768)
    assert 0.0 <= summary["dead_frac"] < 0.5
    sae = TopKSAE.load(out)
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(sae.d_sae), atol=1e-5, rtol=0)
    cfg_json = json.loads((out / "cfg.json").read_text())
    assert cfg_json["metadata"]["hook_name"] == meta["hook_name"] and cfg_json["k"] == 4
    # b_dec started at the geometric median of the first batch and stays near the data offset
    assert (sae.b_dec - 0.5).abs().mean() < 0.5


def test_saelens_backend_trains_and_saves_our_format(cache: Path, tmp_path: Path) -> None:
    from sae_lens import SAE

    cfg = sae_cfg(backend="saelens", n_tokens=16384)
    out = tmp_path / "sl"
    summary = train_sae(
        make_source(cache, cfg),
        d_in=D_IN,
        cfg=cfg,
        seed=1,
        out_dir=out,
        log_csv=tmp_path / "sl.csv",
    )
    rows = list(csv.DictReader((tmp_path / "sl.csv").read_text().splitlines()))
    assert summary["backend"] == "saelens" and len(rows) == 64
    assert summary["fvu"] < 0.6 * float(rows[1]["fvu"])
    sl = SAE.load_from_disk(out)
    ours = TopKSAE.load(out)
    x = torch.from_numpy(planted_acts(64, seed=9))
    with torch.no_grad():
        torch.testing.assert_close(sl.decode(sl.encode(x)), ours(x)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.W_dec.norm(dim=1), torch.ones(ours.d_sae), atol=1e-5, rtol=0)


def test_training_is_deterministic(cache: Path, tmp_path: Path) -> None:
    cfg = sae_cfg(n_tokens=8192)
    for name in ("a", "b"):
        train_sae(make_source(cache, cfg), d_in=D_IN, cfg=cfg, seed=3, out_dir=tmp_path / name)
    a, b = TopKSAE.load(tmp_path / "a"), TopKSAE.load(tmp_path / "b")
    for n in ("W_enc", "W_dec", "b_enc", "b_dec"):
        assert torch.equal(getattr(a, n), getattr(b, n)), n


def test_config_validation(cache: Path, tmp_path: Path) -> None:
    cfg = sae_cfg(k=128, expansion_factor=4)  # k >= n_latents = 128
    with pytest.raises(ValueError, match="n_latents"):
        train_sae(make_source(cache, sae_cfg()), d_in=D_IN, cfg=cfg, seed=0, out_dir=tmp_path / "x")
    with pytest.raises(ValueError, match="d_in"):
        train_sae(
            make_source(cache, sae_cfg()), d_in=16, cfg=sae_cfg(), seed=0, out_dir=tmp_path / "y"
        )
    with pytest.raises(ValueError, match="backend"):
        sae_cfg(backend="x")


# -- checkpoints and resume -----------------------------------------------------------------


class _Interrupt:
    """Source wrapper that raises after ``n`` batches, simulating a crash mid-training."""

    def __init__(self, inner: CachedActivationSource, n: int) -> None:
        self.inner, self.n = inner, n
        self.d_in, self.batch_size = inner.d_in, inner.batch_size

    def __next__(self):
        if self.n == 0:
            raise RuntimeError("simulated crash")
        self.n -= 1
        return next(self.inner)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, s) -> None:
        self.inner.load_state_dict(s)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    sae = TopKSAE.load(path)
    return {n: getattr(sae, n).detach() for n in ("W_enc", "W_dec", "b_enc", "b_dec")}


def _assert_same_sae(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    for n in wa:
        assert torch.equal(wa[n], wb[n]), n


@pytest.mark.parametrize("backend", ["fused", "saelens"])
def test_crash_and_resume_gives_identical_sae(cache: Path, tmp_path: Path, backend: str) -> None:
    cfg = sae_cfg(backend=backend, n_tokens=8192, checkpoint_every_steps=5)
    ref = train_sae(
        make_source(cache, cfg),
        d_in=D_IN,
        cfg=cfg,
        seed=4,
        out_dir=tmp_path / "ref",
        log_csv=tmp_path / "ref.csv",
        checkpoint_dir=tmp_path / "ck_ref",
    )
    assert not (tmp_path / "ck_ref").exists()  # removed after the final save

    ckpt = tmp_path / "ck"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_sae(
            _Interrupt(make_source(cache, cfg), 13),
            d_in=D_IN,
            cfg=cfg,
            seed=4,
            out_dir=tmp_path / "run",
            log_csv=tmp_path / "run.csv",
            checkpoint_dir=ckpt,
        )
    state = torch.load(ckpt / "checkpoint.pt", weights_only=False)
    assert state["step"] == 10 and state["source"]["pos"] == 10
    assert not (tmp_path / "run" / "cfg.json").exists()
    resumed = train_sae(
        make_source(cache, cfg),
        d_in=D_IN,
        cfg=cfg,
        seed=4,
        out_dir=tmp_path / "run",
        log_csv=tmp_path / "run.csv",
        checkpoint_dir=ckpt,
    )
    _assert_same_sae(tmp_path / "ref", tmp_path / "run")
    assert (tmp_path / "ref.csv").read_text() == (tmp_path / "run.csv").read_text()
    assert resumed["fvu"] == ref["fvu"] and not ckpt.exists()
    # a checkpoint from a different run is refused, not silently mixed in
    with pytest.raises(RuntimeError):
        train_sae(
            _Interrupt(make_source(cache, cfg), 6),
            d_in=D_IN,
            cfg=cfg,
            seed=4,
            out_dir=tmp_path / "x",
            checkpoint_dir=ckpt,
        )
    with pytest.raises(ValueError, match="does not match"):
        train_sae(
            make_source(cache, cfg),
            d_in=D_IN,
            cfg=cfg.replace(n_tokens=4096),
            seed=4,
            out_dir=tmp_path / "x",
            checkpoint_dir=ckpt,
        )


_CHILD = """
import json, sys, time
from randsae.sae.act_source import CachedActivationSource
from randsae.sae.train import train_sae
from randsae.sections import SAEConfig

cache, out, ckpt, cfg_json, slow = sys.argv[1:]
cfg = SAEConfig.from_dict(json.loads(cfg_json))
src = CachedActivationSource(cache, 0, batch_size=cfg.batch_size, n_tokens=cfg.n_tokens,
                             buffer_tokens=cfg.shuffle_buffer_tokens, seed=0)

class Slow:
    def __init__(self, inner):
        self.inner, self.d_in, self.batch_size = inner, inner.d_in, inner.batch_size
    def __next__(self):
        time.sleep(0.05)
        return next(self.inner)
    def state_dict(self):
        return self.inner.state_dict()
    def load_state_dict(self, s):
        self.inner.load_state_dict(s)

train_sae(Slow(src) if slow == "1" else src, d_in=%d, cfg=cfg, seed=4, out_dir=out,
          checkpoint_dir=ckpt, log_csv=out + ".csv")
"""


@pytest.mark.slow  # kills and restarts a training process
def test_sigkill_and_rerun_gives_identical_sae(cache: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = sae_cfg(n_tokens=16384, checkpoint_every_steps=8)
    child = tmp_path / "child.py"
    child.write_text(_CHILD % D_IN)
    out, ckpt = tmp_path / "killed", tmp_path / "ck"
    args = [sys.executable, str(child), str(cache), str(out), str(ckpt), json.dumps(cfg.to_dict())]
    proc = subprocess.Popen([*args, "1"])
    deadline = time.monotonic() + 120
    while not (ckpt / "checkpoint.pt").exists():
        assert proc.poll() is None, "child finished before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (out / "cfg.json").exists()
    step_at_kill = torch.load(ckpt / "checkpoint.pt", weights_only=False)["step"]
    assert 8 <= step_at_kill < 64

    subprocess.run([*args, "0"], check=True)  # rerun: resumes from the checkpoint
    assert not ckpt.exists()
    train_sae(
        make_source(cache, cfg),
        d_in=D_IN,
        cfg=cfg,
        seed=4,
        out_dir=tmp_path / "ref",
        log_csv=tmp_path / "ref.csv",
    )
    _assert_same_sae(tmp_path / "ref", out)
    assert (tmp_path / "ref.csv").read_text() == Path(str(out) + ".csv").read_text()


# -- stream vs cache ------------------------------------------------------------------------


def test_group_training_from_stream_equals_cache(tmp_path: Path) -> None:
    from tiny_models import tiny_hooked_transformer

    from randsae.sae.act_source import StreamActivationSource
    from randsae.sae.activations import write_cache as lead_write_cache
    from randsae.sae.train import train_sae_group

    model = tiny_hooked_transformer()
    lm = type("LoadedModel", (), {"model": model, "fwd_hooks": []})()
    seqs = np.random.default_rng(1).integers(0, 100, size=(64, 32), dtype=np.int32)
    lead_write_cache(
        lm, seqs, [0, 1], tmp_path / "cache", batch_size=8, shard_tokens=512, progress=False
    )
    cfg = sae_cfg(
        n_tokens=2048, batch_size=128, shuffle_buffer_tokens=512, checkpoint_every_steps=0
    )
    seeds = {0: 10, 1: 11}
    for L in (0, 1):
        src = CachedActivationSource(
            tmp_path / "cache", L, batch_size=128, n_tokens=2048, buffer_tokens=512, seed=7
        )
        train_sae(
            src,
            d_in=32,
            cfg=cfg,
            seed=seeds[L],
            out_dir=tmp_path / f"cache{L}",
            log_csv=tmp_path / f"cache{L}.csv",
        )
    stream = StreamActivationSource(
        lm,
        seqs,
        [0, 1],
        context_size=32,
        batch_size=128,
        n_tokens=2048,
        buffer_tokens=512,
        seed=7,
        forward_batch_size=8,
    )
    summaries = train_sae_group(
        stream,
        d_in=32,
        cfg=cfg,
        seeds=seeds,
        out_dirs={L: tmp_path / f"stream{L}" for L in (0, 1)},
        log_csvs={L: tmp_path / f"stream{L}.csv" for L in (0, 1)},
    )
    assert set(summaries) == {0, 1}
    for L in (0, 1):
        _assert_same_sae(tmp_path / f"cache{L}", tmp_path / f"stream{L}")
        assert (tmp_path / f"cache{L}.csv").read_text() == (tmp_path / f"stream{L}.csv").read_text()
