"""Shared fixtures. Run the suite with `pytest` from the repository root."""

from __future__ import annotations

import random
import time
import warnings

import numpy as np
import pytest
import torch

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield


TINY_ARCH = {"n_layers": 2, "d_model": 32, "n_heads": 4, "d_mlp": 64, "n_ctx": 32, "rotary_dim": 4}


@pytest.fixture
def tiny_arch():
    return dict(TINY_ARCH)


@pytest.fixture
def tiny_model():
    """A random GPT-NeoX-style HookedTransformer (no download)."""
    from transformer_lens import HookedTransformer

    from randsae.models.neox import neox_config

    torch.manual_seed(0)
    from randsae.sections import ArchConfig

    arch = ArchConfig.from_dict(TINY_ARCH)
    return HookedTransformer(neox_config(arch, 100, seed=0), tokenizer=None).eval()


@pytest.fixture
def base_config(tiny_arch):
    """A complete config dict for one embedded model (as config.yaml has it)."""
    import copy
    from pathlib import Path

    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / "config.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg["toy"]["embeddings"]["models"] = ["tiny"]
    cfg["models"] = {
        "tiny": {
            "source": "embedded",
            "layers": [0, 1],
            "arch": tiny_arch,
            "train": {
                "steps": 5,
                "batch_size": 4,
                "lr": 0.002,
                "warmup_steps": 1,
                "weight_decay": 0.0,
            },
        }
    }
    return cfg


@pytest.fixture
def fake(monkeypatch):
    """A running loopback fake of the Anthropic API with a fake key in the environment."""
    from fake_anthropic import FAKE_KEY, FakeAnthropic

    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    srv = FakeAnthropic().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """THE end-to-end run of the suite, made once per session: configs/smoke.yaml, default
    targets + results/manifest.tsv, 2 cores, fake secrets in the environment. Read-only: tests
    that change it use ``smoke_copy``."""
    from dagtools import DETERMINISTIC, SMOKE, TARGETS, snakemake

    work = tmp_path_factory.mktemp("smoke")
    start = time.monotonic()
    proc = snakemake(work, *TARGETS, "--cores", "2", *DETERMINISTIC, "--configfile", str(SMOKE))
    assert proc.returncode == 0, proc.stderr[-6000:]
    (work / "wall_s.txt").write_text(f"{time.monotonic() - start:.1f}\n")
    return work


@pytest.fixture
def smoke_copy(smoke_run, tmp_path):
    """A private copy of the shared smoke run for tests that rerun or delete things in it."""
    from dagtools import copy_run

    return copy_run(smoke_run, tmp_path / "smoke")
