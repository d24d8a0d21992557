"""randsae.io: atomic writes leave the old file on failure, JSON conversion, sha256.

Run: ``pytest tests/test_io.py``.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from randsae import io


def test_atomic_path_replaces_on_success_and_keeps_old_file_on_error(tmp_path):
    out = tmp_path / "sub" / "out.txt"
    io.atomic_write_text(out, "first")
    assert out.read_text() == "first"
    with pytest.raises(RuntimeError), io.atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert out.read_text() == "first"
    assert [p.name for p in out.parent.iterdir()] == ["out.txt"]  # no temp file left behind
    io.atomic_write_bytes(out, b"second")
    assert out.read_bytes() == b"second"


def test_to_data_and_json_roundtrip(tmp_path):
    obj = {
        "a": np.arange(3),
        "b": np.float32(0.5),
        "c": torch.tensor(2),
        "d": (1, float("nan")),
        1: np.int64(7),
    }
    assert io.to_data(obj, nan_to_none=True) == {
        "a": [0, 1, 2],
        "b": 0.5,
        "c": 2,
        "d": [1, None],
        "1": 7,
    }
    assert math.isnan(io.to_data(obj)["d"][1])
    io.write_json(tmp_path / "x.json", obj, sort_keys=True)
    back = io.read_json(tmp_path / "x.json")
    assert back["a"] == [0, 1, 2] and back["1"] == 7 and math.isnan(back["d"][1])


def test_sha256_file_matches_hashlib(tmp_path):
    data = np.random.default_rng(0).bytes(3 * 1024 + 17)
    p = tmp_path / "blob"
    p.write_bytes(data)
    assert io.sha256_file(p, chunk=1024) == hashlib.sha256(data).hexdigest()
    assert io.sha256_bytes(data) == hashlib.sha256(data).hexdigest()
