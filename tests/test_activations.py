"""Activation cache writer. Run: pytest tests/test_activations.py"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from randsae.models.inits import LoadedModel
from randsae.sae.activations import CacheError, hook_name, read_layer, write_cache


def test_cache_matches_forward_and_shards(tmp_path, tiny_model):
    seqs = np.random.default_rng(0).integers(0, 100, (10, 16)).astype(np.int32)
    lm = LoadedModel(tiny_model)
    man = write_cache(lm, seqs, [0, 1], tmp_path, batch_size=3, shard_tokens=64, progress=False)
    assert man["n_tokens"] == 160 and man["layers"] == [0, 1]
    assert len(man["shards"]["1"]) == 3  # 64 + 64 + 32 tokens
    assert json.loads((tmp_path / "manifest.json").read_text())["d_model"] == 32
    with torch.no_grad():
        _, cache = tiny_model.run_with_cache(torch.from_numpy(seqs.astype(np.int64)))
    for layer in (0, 1):
        ref = cache[hook_name(layer)].reshape(-1, 32).numpy()
        np.testing.assert_allclose(read_layer(tmp_path, layer), ref, rtol=1e-5, atol=1e-5)
    assert np.array_equal(np.load(tmp_path / "tokens.npy"), seqs.reshape(-1))
    with pytest.raises(ValueError, match="layer 5"):
        read_layer(tmp_path, 5)


def test_cache_rejects_non_finite(tmp_path, tiny_model):
    with torch.no_grad():
        tiny_model.blocks[0].mlp.W_out[0, 0] = float("nan")
    seqs = np.zeros((2, 8), dtype=np.int32)
    with pytest.raises(ValueError, match="non-finite"):
        write_cache(
            LoadedModel(tiny_model),
            seqs,
            [0],
            tmp_path,
            batch_size=2,
            shard_tokens=16,
            progress=False,
        )


def test_float16_storage(tmp_path, tiny_model):
    seqs = np.ones((2, 8), dtype=np.int32)
    write_cache(
        LoadedModel(tiny_model),
        seqs,
        [0],
        tmp_path,
        batch_size=2,
        shard_tokens=16,
        dtype="float16",
        progress=False,
    )
    assert read_layer(tmp_path, 0).dtype == np.float16


def _cache(tmp_path, tiny_model, shard_tokens=64):
    seqs = np.random.default_rng(1).integers(0, 100, (10, 16)).astype(np.int32)
    cache = tmp_path / "results" / "activations" / "tiny" / "trained"
    write_cache(
        LoadedModel(tiny_model), seqs, [0, 1], cache, batch_size=4, shard_tokens=shard_tokens
    )
    return cache


def _train(cache, tmp_path):
    from test_sae_train import sae_cfg

    from randsae.sae.steps import train_sae
    from randsae.sections import ActivationsConfig

    act = {"source": "cache", "n_train_tokens": 128, "context_size": 16, "batch_size": 2}
    train_sae(
        "tiny",
        "trained",
        1,
        sae_cfg(n_tokens=128, batch_size=32, shuffle_buffer_tokens=64),
        ActivationsConfig.from_dict({**act, "shard_tokens": 64, "dtype": "float32"}),
        0,
        str(cache),
        str(tmp_path / "sae"),
        str(tmp_path / "curve.csv"),
        str(tmp_path / "ckpt"),
        "cpu",
    )


def test_manifest_records_every_shard_checksum(tmp_path, tiny_model):
    from randsae.io import sha256_file
    from randsae.sae.activations import sampled_sha256

    cache = _cache(tmp_path, tiny_model)
    man = json.loads((cache / "manifest.json").read_text())
    rels = [r for layer in ("0", "1") for r in man["shards"][layer]]
    assert sorted(man["checksums"]) == sorted(rels) and len(rels) == 6
    for rel in rels:
        rec, path = man["checksums"][rel], cache / rel
        assert rec == {
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
            "sampled_sha256": sampled_sha256(path),
        }


def test_train_sae_fails_on_a_truncated_shard_naming_it_and_the_fix(tmp_path, tiny_model):
    cache = _cache(tmp_path, tiny_model)
    _train(cache, tmp_path / "ok")  # the intact cache trains
    shard = cache / "layer1" / "shard_00001.npy"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 100])
    with pytest.raises(CacheError) as err:
        _train(cache, tmp_path / "bad")
    msg = str(err.value)
    assert str(shard) in msg and "truncated" in msg
    assert f"snakemake --cores all --forcerun {cache}" in msg


def test_train_sae_fails_on_a_same_size_altered_shard(tmp_path, tiny_model):
    cache = _cache(tmp_path, tiny_model)
    shard = cache / "layer1" / "shard_00002.npy"
    data = bytearray(shard.read_bytes())
    data[-7] ^= 0x01  # one flipped bit in a float: finite, same size
    shard.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=r"shard_00002\.npy does not match its sha256") as err:
        _train(cache, tmp_path / "bad")
    assert "--forcerun" in str(err.value)


def test_sampled_check_on_large_shards_and_full_check(tmp_path, monkeypatch):
    """Above SAMPLES * SAMPLE_BYTES only samples are hashed: a flip between samples passes the
    cheap check and is caught by the full one; a flip inside a sample is caught by both."""
    import randsae.sae.activations as act

    monkeypatch.setattr(act, "SAMPLE_BYTES", 16)
    monkeypatch.setattr(act, "SAMPLES", 4)
    path = tmp_path / "layer0" / "shard_00000.npy"
    path.parent.mkdir()
    path.write_bytes(bytes(range(256)) * 4)  # 1024 bytes; samples at 0, 336, 672, 1008
    manifest = {"shards": {"0": ["layer0/shard_00000.npy"]}}
    manifest["checksums"] = {"layer0/shard_00000.npy": act.shard_checksum(path)}
    assert act.verify_shards(tmp_path, manifest, 0, full=True) == 1
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # between samples
    path.write_bytes(bytes(data))
    assert act.verify_shards(tmp_path, manifest, 0) == 1
    with pytest.raises(CacheError, match="altered"):
        act.verify_shards(tmp_path, manifest, 0, full=True)
    data[100] ^= 0xFF
    data[340] ^= 0xFF  # inside the second sample
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="altered"):
        act.verify_shards(tmp_path, manifest, 0)
    assert act.verify_shards(tmp_path, {"shards": manifest["shards"]}, 0) == 0  # no checksums
