"""Micro-batched SAE steps (sae.micro_batch_size): gradient accumulation, memory, config errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml
from test_sae_train import D_IN, make_source, planted_acts, sae_cfg, write_cache

from randsae.errors import ConfigError
from randsae.sae.topk import TopKSAE
from randsae.sae.train import _SAEJob, train_sae
from randsae.sections import SAEConfig, check_config

B, MICRO, STEPS = 256, 64, 6


def _job(cfg: SAEConfig) -> _SAEJob:
    return _SAEJob("k", d_in=D_IN, cfg=cfg, seed=5, device=torch.device("cpu"), total_steps=50)


def _params(job: _SAEJob) -> dict[str, torch.Tensor]:
    return {n: getattr(job.sae, n).detach().clone() for n in ("W_enc", "W_dec", "b_enc", "b_dec")}


def test_micro_batched_steps_equal_one_whole_batch_step_per_batch() -> None:
    """N micro-batched steps == N steps that see the whole batch in one pass (same loss)."""
    cfg = sae_cfg(batch_size=B, lr=3e-3, warmup_steps=0)
    micro = _job(cfg.replace(micro_batch_size=MICRO))
    whole = _job(cfg.replace(micro_batch_size=None))
    x_all = torch.from_numpy(planted_acts(B * STEPS, seed=2))
    for s in range(STEPS):
        x = x_all[s * B : (s + 1) * B]
        micro.train_step(x)
        # Reference: one forward/backward over the whole batch; the loss is the authors'
        # per-micro-batch FVU, sum_c (n_c / B) * FVU_c, then the job's own update.
        if not whole.b_dec_initialised:
            whole.init_b_dec(x)
        x_hat, _, _ = whole.sae(x)
        loss = sum(
            (xc.shape[0] / B) * (hc - xc).pow(2).sum() / (xc - xc.mean(0)).pow(2).sum()
            for xc, hc in zip(x.split(MICRO), x_hat.split(MICRO), strict=True)
        )
        loss.backward()
        whole._apply_update()
        assert micro.log[-1]["fvu"] == pytest.approx(float(loss.detach()), rel=1e-5)
    pm, pw = _params(micro), _params(whole)
    for n in pm:
        torch.testing.assert_close(pm[n], pw[n], rtol=1e-5, atol=1e-6, msg=n)
    assert any(not torch.equal(pm[n], _params(_job(cfg))[n]) for n in pm)  # it did train
    # Only a (micro, n_latents) pre-activation buffer ever existed on the micro-batched job.
    assert tuple(micro.sae._pre_buf.shape) == (MICRO, micro.sae.d_sae)
    assert tuple(whole.sae._pre_buf.shape) == (B, whole.sae.d_sae)


def test_micro_batch_equal_to_batch_is_the_plain_step(tmp_path) -> None:
    cache = write_cache(tmp_path / "cache", planted_acts(8192))
    for name, mb in (("none", None), ("full", B), ("larger", 4 * B)):
        cfg = sae_cfg(batch_size=B, n_tokens=4096, micro_batch_size=mb)
        train_sae(make_source(cache, cfg), d_in=D_IN, cfg=cfg, seed=3, out_dir=tmp_path / name)
    a = TopKSAE.load(tmp_path / "none")
    for other in ("full", "larger"):
        b = TopKSAE.load(tmp_path / other)
        for n in ("W_enc", "W_dec", "b_enc", "b_dec"):
            assert torch.equal(getattr(a, n), getattr(b, n)), (other, n)


def test_micro_batched_training_learns_and_logs_the_whole_batch(tmp_path) -> None:
    cache = write_cache(tmp_path / "cache", planted_acts(32768))
    cfg = sae_cfg(micro_batch_size=64)
    summary = train_sae(make_source(cache, cfg), d_in=D_IN, cfg=cfg, seed=1, out_dir=tmp_path / "s")
    assert summary["steps"] == 128 and summary["tokens"] == 32768
    assert summary["fvu"] < 0.3 and 0 < summary["l0"] <= cfg.k


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"micro_batch_size": 100}, "must divide sae.batch_size=256"),
        (
            {"micro_batch_size": 64, "backend": "saelens"},
            "needs sae.architecture topk and sae.backend fused",
        ),
    ],
)
def test_bad_micro_batch_is_a_clear_error(over: dict, match: str) -> None:
    with pytest.raises(ConfigError, match="sae.micro_batch_size") as err:
        sae_cfg(**over)
    assert match in str(err.value)


def test_saelens_with_whole_batch_micro_is_allowed() -> None:
    for mb in (256, 8192, None):  # one pass over the batch (or more): no micro-batching
        assert sae_cfg(backend="saelens", micro_batch_size=mb).micro is None


def test_check_config_names_micro_batch_key_before_any_job() -> None:
    cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / "config.yaml").read_text())
    bad = copy.deepcopy(cfg)
    bad["sae"]["micro_batch_size"] = 3000  # does not divide 4096
    with pytest.raises(ConfigError, match="sae.micro_batch_size: 3000 must divide"):
        check_config(bad)
    bad["sae"].update(micro_batch_size=1024, backend="saelens")
    with pytest.raises(ConfigError, match="needs sae.architecture topk and sae.backend fused"):
        check_config(bad)
    cfg["sae"]["micro_batch_size"] = 1024
    check_config(cfg)
