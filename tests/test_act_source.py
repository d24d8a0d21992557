"""Tests for randsae.sae.act_source (cache / stream activation sources). Run: pytest tests/test_act_source.py"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from randsae.sae.act_source import CachedActivationSource


def write_cache(
    root: Path,
    acts: dict[int, np.ndarray],
    *,
    shard_tokens: int,
    context_size: int = 16,
    dtype: str = "float32",
) -> Path:
    """Write an activation cache in the docs/architecture.md format."""
    root.mkdir(parents=True, exist_ok=True)
    n_tokens, d_model = next(iter(acts.values())).shape
    shards: dict[str, list[str]] = {}
    for layer, a in acts.items():
        (root / f"layer{layer}").mkdir(exist_ok=True)
        names = []
        for i, s in enumerate(range(0, n_tokens, shard_tokens)):
            rel = f"layer{layer}/shard_{i:05d}.npy"
            np.save(root / rel, a[s : s + shard_tokens].astype(dtype))
            names.append(rel)
        shards[str(layer)] = names
    manifest = {
        "model": "tiny",
        "init": "trained",
        "layers": sorted(acts),
        "d_model": d_model,
        "dtype": dtype,
        "n_tokens": n_tokens,
        "context_size": context_size,
        "shard_tokens": shard_tokens,
        "shards": shards,
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    np.save(root / "tokens.npy", np.arange(n_tokens, dtype=np.int32))
    return root


def _ids_cache(tmp_path: Path, n: int = 1000, d: int = 4, **kw) -> Path:
    """Cache whose row i is (i, i, ...): emitted rows reveal which token they came from."""
    a = np.repeat(np.arange(n, dtype=np.float32)[:, None], d, axis=1)
    return write_cache(
        tmp_path / "cache", {0: a, 2: -a}, shard_tokens=kw.pop("shard_tokens", 300), **kw
    )


def _collect(src) -> torch.Tensor:
    return torch.cat(list(src))


def test_one_epoch_is_a_permutation_of_the_cache(tmp_path: Path) -> None:
    cache = _ids_cache(tmp_path, context_size=10)  # 100 sequences of 10 tokens
    src = CachedActivationSource(cache, 0, batch_size=50, n_tokens=1000, buffer_tokens=220, seed=3)
    assert src.d_in == 4 and len(src) == 20
    out = _collect(src)
    assert out.dtype == torch.float32 and out.shape == (1000, 4)
    ids = out[:, 0].long()
    assert torch.equal(ids.sort().values, torch.arange(1000))  # every token exactly once
    assert not torch.equal(ids, torch.arange(1000))  # but shuffled
    # Sequence shuffle: blocks of 200 tokens (220 rounded to the batch) hold 20 whole sequences
    # drawn from the whole epoch, not 200 consecutive tokens; each batch comes from one block.
    for b in range(5):
        block = ids[b * 200 : (b + 1) * 200]
        seqs = torch.unique(block // 10)
        assert len(seqs) == 20
        assert torch.equal(block.sort().values, (seqs[:, None] * 10 + torch.arange(10)).flatten())
        assert int(seqs.max() - seqs.min()) > 19  # not one contiguous run of sequences


def test_order_depends_only_on_seed(tmp_path: Path) -> None:
    cache = _ids_cache(tmp_path)
    kw = dict(batch_size=50, n_tokens=1000, buffer_tokens=200)
    a = _collect(CachedActivationSource(cache, 0, seed=1, **kw))
    b = _collect(CachedActivationSource(cache, 0, seed=1, **kw))
    c = _collect(CachedActivationSource(cache, 0, seed=2, **kw))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # The other layer is read from its own shards, same order.
    d = _collect(CachedActivationSource(cache, 2, seed=1, **kw))
    assert torch.equal(d, -a)


def test_wraps_with_warning_and_new_epoch_order(tmp_path: Path) -> None:
    # 43 sequences of 10; blocks of 10 sequences; the last block's 30 tokens fill no batch of 50
    cache = _ids_cache(tmp_path, n=430, context_size=10)
    with pytest.warns(UserWarning, match="wrapping"):
        src = CachedActivationSource(
            cache, 0, batch_size=50, n_tokens=1000, buffer_tokens=100, seed=0
        )
    ids = _collect(src)[:, 0].long()
    assert ids.shape == (1000,)
    e0, e1 = ids[:400], ids[400:800]
    for e in (e0, e1):
        seqs = torch.unique(e // 10)
        assert len(seqs) == 40 and len(torch.unique(e)) == 400  # 40 whole sequences, once each
    assert not torch.equal(e0, e1)


def test_state_dict_resumes_exactly(tmp_path: Path) -> None:
    cache = _ids_cache(tmp_path)
    kw = dict(batch_size=40, n_tokens=2000, buffer_tokens=120, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = _collect(CachedActivationSource(cache, 0, **kw))
        src = CachedActivationSource(cache, 0, **kw)
        head = [next(src) for _ in range(17)]
        state = src.state_dict()
        resumed = CachedActivationSource(cache, 0, **kw)
    resumed.load_state_dict(state)
    tail = _collect(resumed)
    assert torch.equal(torch.cat(head + [tail]), full)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = CachedActivationSource(cache, 0, **{**kw, "seed": 6})
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(state)


def test_float16_cache_is_upcast(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 8)).astype(np.float32)
    cache = write_cache(tmp_path / "c16", {1: a}, shard_tokens=100, dtype="float16")
    out = _collect(
        CachedActivationSource(cache, 1, batch_size=64, n_tokens=256, buffer_tokens=256, seed=0)
    )
    assert out.dtype == torch.float32
    got = out.numpy()[np.lexsort(out.numpy().T[::-1])]
    want = a.astype(np.float16).astype(np.float32)
    want = want[np.lexsort(want.T[::-1])]
    np.testing.assert_array_equal(got, want)


def test_validation_errors_name_the_problem(tmp_path: Path) -> None:
    kw = dict(batch_size=10, n_tokens=100, buffer_tokens=50, seed=0)
    with pytest.raises(ValueError, match="manifest"):
        CachedActivationSource(tmp_path / "nope", 0, **kw)
    cache = _ids_cache(tmp_path, n=100, shard_tokens=50)
    with pytest.raises(ValueError, match="layer 5 missing"):
        CachedActivationSource(cache, 5, **kw)
    # a shard with the wrong d_model
    np.save(cache / "layer0" / "shard_00001.npy", np.zeros((50, 7), np.float32))
    with pytest.raises(ValueError, match=r"shard_00001.*\(50, 7\)"):
        CachedActivationSource(cache, 0, **kw)
    # NaN activations are reported with the layer and token
    bad = np.zeros((50, 4), np.float32)
    bad[13, 2] = np.nan
    np.save(cache / "layer0" / "shard_00001.npy", bad)
    src = CachedActivationSource(cache, 0, **kw)
    with pytest.raises(ValueError, match=r"NaN/Inf.*layer 0, token 63"):
        _collect(src)
    # token count disagreeing with the manifest
    np.save(cache / "layer0" / "shard_00001.npy", np.zeros((40, 4), np.float32))
    with pytest.raises(ValueError, match="n_tokens"):
        CachedActivationSource(cache, 0, **kw)


# -- stream source --------------------------------------------------------------------------


class _LM:
    """Stands in for ``randsae.models.inits.LoadedModel`` (same two fields)."""

    def __init__(self, model, fwd_hooks=None) -> None:
        self.model = model
        self.fwd_hooks = fwd_hooks or []


def tiny_lm() -> _LM:
    from tiny_models import tiny_hooked_transformer

    return _LM(tiny_hooked_transformer())


@pytest.fixture(scope="module")
def lm_and_tokens():
    torch.manual_seed(0)
    lm = tiny_lm()
    rng = np.random.default_rng(0)
    seqs = rng.integers(0, 100, size=(40, 32), dtype=np.int32)  # 1280 tokens
    return lm, seqs


@pytest.mark.parametrize("block", ["host", "device"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_stream_equals_cache_bit_for_bit(
    lm_and_tokens, tmp_path: Path, dtype: str, block: str
) -> None:
    """``block="device"``: the block stays where the model runs, in the storage dtype, and the
    activations never pass through the host path (the GPU code path, run on a CPU here)."""
    from randsae.sae.act_source import StreamActivationSource
    from randsae.sae.activations import write_cache as lead_write_cache
    from randsae.sae.levers import Levers

    lm, seqs = lm_and_tokens
    cache = tmp_path / "cache"
    lead_write_cache(
        lm, seqs, [0, 1], cache, batch_size=8, shard_tokens=300, dtype=dtype, progress=False
    )
    # buffer 352 tokens is not a multiple of the 8 x 32 forward grid: blocks straddle batches.
    kw = dict(batch_size=32, n_tokens=1280, buffer_tokens=352, seed=11)
    stream = StreamActivationSource(
        lm,
        seqs.reshape(-1),
        [1, 0],
        context_size=32,
        forward_batch_size=8,
        storage_dtype=dtype,
        device="cpu",
        levers=Levers(stream_block=block),
        **kw,
    )
    assert stream.d_in == 32 and len(stream) == 40
    assert (stream.block_device is None) == (block == "host")
    cached = {L: list(CachedActivationSource(cache, L, **kw)) for L in (0, 1)}
    for i, batch in enumerate(stream):
        assert set(batch) == {0, 1}
        for L in (0, 1):
            assert batch[L].dtype == torch.float32
            assert torch.equal(batch[L], cached[L][i]), (L, i)
    held = {"device": getattr(torch, dtype), "host": torch.float32}[block]
    assert stream._cur_block[0].dtype == held  # a device block holds the storage dtype
    # the model's own hooked activations, for one token, as an end-to-end check
    with torch.inference_mode():
        _, ref = lm.model.run_with_cache(torch.from_numpy(seqs[:1].astype(np.int64)))
    first_tok = ref["blocks.1.hook_resid_post"][0, 0].to(getattr(torch, dtype)).float()
    all_rows = torch.cat(cached[1])
    assert (all_rows == first_tok).all(dim=1).any()


def test_stream_resume_and_validation(lm_and_tokens) -> None:
    from randsae.sae.act_source import StreamActivationSource

    lm, seqs = lm_and_tokens
    kw = dict(
        context_size=32,
        batch_size=64,
        n_tokens=1280,
        buffer_tokens=256,
        seed=2,
        forward_batch_size=4,
    )
    full = [b[0] for b in StreamActivationSource(lm, seqs, [0], **kw)]
    src = StreamActivationSource(lm, seqs, [0], **kw)
    for _ in range(7):
        next(src)
    resumed = StreamActivationSource(lm, seqs, [0], **kw)
    resumed.load_state_dict(src.state_dict())
    rest = [b[0] for b in resumed]
    assert len(rest) == len(full) - 7
    assert all(torch.equal(a, b) for a, b in zip(rest, full[7:], strict=True))
    with pytest.raises(ValueError, match="layers \\[5\\] missing"):
        StreamActivationSource(lm, seqs, [5], **kw)


def test_stream_applies_fwd_hooks(lm_and_tokens) -> None:
    """The init's hooks (e.g. the noise control) must be active on the stream's forward pass."""
    from randsae.sae.act_source import StreamActivationSource

    lm, seqs = lm_and_tokens
    hooked = _LM(lm.model, [("blocks.0.hook_resid_post", lambda act, hook: act * 0 + 3.0)])
    kw = dict(context_size=32, batch_size=64, n_tokens=128, buffer_tokens=128, seed=0)
    batch = next(StreamActivationSource(hooked, seqs, [0], **kw))[0]
    assert torch.all(batch == 3.0)
    plain = next(StreamActivationSource(lm, seqs, [0], **kw))[0]
    assert not torch.all(plain == 3.0)
    assert not lm.model.hook_dict["blocks.0.hook_resid_post"].fwd_hooks  # no hook left behind
