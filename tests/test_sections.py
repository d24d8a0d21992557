"""Frozen config sections: built from the validated dict, invariants in __post_init__.

Run: ``pytest tests/test_sections.py``.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest

from randsae.errors import ConfigError
from randsae.sections import ArchConfig, ExamplesConfig, RunConfig, cells, check_config


@pytest.fixture
def valid_config(base_config):
    cfg = copy.deepcopy(base_config)
    cfg["activations"]["context_size"] = cfg["examples"]["context_size"] = 32  # tiny n_ctx
    return cfg


def test_run_config_from_the_default_config(valid_config):
    base_config = valid_config
    rc = check_config(base_config)
    assert isinstance(rc, RunConfig)
    tiny = rc.models["tiny"]
    assert tiny.layers == (0, 1) and tiny.n_layers == 2 and tiny.d_model == 32
    assert isinstance(tiny.arch, ArchConfig) and tiny.arch.n_heads == 4
    assert rc.sae.n_latents(tiny.d_model) == base_config["sae"]["expansion_factor"] * 32
    assert rc.eval.ignore_token_ids == tuple(base_config["eval"]["ignore_token_ids"])
    assert rc.cells() == cells(base_config)
    # keys a section does not declare stay available, unchanged
    assert rc.sae.extra["backend"] == base_config["sae"]["backend"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rc.sae.k = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["models"]["tiny"]["arch"].__setitem__("n_heads", 5), "divisible by n_heads"),
        (lambda c: c["models"]["tiny"].pop("train"), "train is required"),
        (lambda c: c["models"]["tiny"].__setitem__("layers", [1, 1]), "duplicate layers"),
        (lambda c: c.__setitem__("inits", ["trained", "trained"]), "duplicate names"),
        (lambda c: c["sae"].__setitem__("k", 10_000), "sae.k"),
        (lambda c: c["examples"].__setitem__("window", 7), "window must divide"),
        (lambda c: c["activations"].__setitem__("context_size", 64), "exceeds models.tiny"),
        (lambda c: c["models"]["tiny"].__setitem__("layers", [2]), "layer 2 is out of range"),
    ],
)
def test_invariants_raise_naming_the_key(valid_config, mutate, message):
    RunConfig.from_dict(valid_config)  # valid before the change
    cfg = copy.deepcopy(valid_config)
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(cfg)


def test_a_section_checks_itself():
    good = dict(
        n_tokens=1,
        context_size=64,
        window=16,
        n_latents=1,
        min_activating_windows=12,
        n_explain=4,
        n_test_activating=8,
        n_test_nonactivating=8,
        n_quantiles=2,
    )
    assert ExamplesConfig(**good).window == 16
    with pytest.raises(ConfigError, match="min_activating_windows"):
        ExamplesConfig(**dict(good, min_activating_windows=11))
