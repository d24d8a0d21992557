"""Activation cache writer. Run: pytest tests/test_activations.py"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from randsae.models.inits import LoadedModel
from randsae.sae.activations import hook_name, read_layer, write_cache


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
