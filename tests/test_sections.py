"""Frozen config sections: built from the validated dict, invariants in __post_init__.

Run: ``pytest tests/test_sections.py``.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from randsae.errors import ConfigError
from randsae.sections import ArchConfig, ExamplesConfig, RunConfig, base, check_config


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
    assert rc.sae.width(tiny.d_model) == base_config["sae"]["expansion_factor"] * 32
    assert rc.eval.ignore_token_ids == tuple(base_config["eval"]["ignore_token_ids"])
    assert rc.cells() == [("tiny", i, layer) for i in base_config["inits"] for layer in (0, 1)]
    # every key is a field, and the section gives the config's values back as plain data
    assert rc.sae.backend == base_config["sae"]["backend"]
    assert rc.sae.to_dict() == base_config["sae"]
    assert rc.autointerp.to_dict()["anthropic"]["windows_per_prompt"] == 70
    with pytest.raises(dataclasses.FrozenInstanceError):
        rc.sae.k = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["models"]["tiny"]["arch"].__setitem__("n_heads", 5), "divisible by n_heads"),
        (lambda c: c["models"]["tiny"].pop("train"), "models.tiny.train: required"),
        (lambda c: c["models"]["tiny"].__setitem__("layers", [1, 1]), "duplicate layers"),
        (lambda c: c.__setitem__("inits", ["trained", "trained"]), "duplicate names"),
        (lambda c: c["sae"].__setitem__("k", 10_000), "sae.k"),
        (lambda c: c["examples"].__setitem__("window", 7), "examples.window: must divide"),
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
        n_latent_draws=1,
        min_activating_windows=12,
        max_activating_windows=100,
        n_explain=4,
        n_test_activating=8,
        n_test_nonactivating=8,
        n_quantiles=2,
    )
    assert ExamplesConfig(**good).window == 16
    with pytest.raises(ConfigError, match="examples.min_activating_windows"):
        ExamplesConfig(**dict(good, min_activating_windows=11))
    with pytest.raises(ConfigError, match="examples.n_tokens: must be >= 1, got 0"):
        ExamplesConfig(**dict(good, n_tokens=0))


# -- the sections and the schema agree, key by key -----------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def _resolve(node: dict) -> dict:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return {**SCHEMA["$defs"][name], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _sections() -> list[tuple[dict, type, str]]:
    """(schema node, section class, config path) of every section, nested ones included (a
    per-model section once, as ``models.<name>...``)."""
    out = []

    def walk(node: dict, cls: type, path: str) -> None:
        out.append((node, cls, path))
        hints = base.type_hints(cls)
        for f in base.key_fields(cls):
            key = base.key_of(f)
            sub = _resolve(node["properties"][key])
            for t in base._members(hints[f.name]):
                if isinstance(t, type) and issubclass(t, base.Section):
                    walk(sub, t, f"{path}.{key}".lstrip("."))
                elif typing.get_origin(t) in (dict, tuple):
                    item = typing.get_args(t)[-1 if typing.get_origin(t) is dict else 0]
                    if isinstance(item, type) and issubclass(item, base.Section):
                        if typing.get_origin(t) is dict:
                            walk(sub["additionalProperties"], item, f"{path}.{key}.<name>")
                        else:
                            walk(_resolve(sub["items"]), item, f"{path}.{key}[]")

    walk(SCHEMA, RunConfig, "")
    return out


SECTIONS = _sections()
IDS = [path or "(config)" for _, _, path in SECTIONS]


def test_every_section_is_walked():
    classes = {cls.__name__ for _, cls, _ in SECTIONS}
    assert {"SAEConfig", "AnthropicSettings", "ArchConfig", "L1CoefsConfig"} <= classes
    assert {"ArtifactsConfig", "RecomputeCell", "PublishConfig"} <= classes
    assert len(SECTIONS) >= 25


@pytest.mark.parametrize(("node", "cls", "path"), SECTIONS, ids=IDS)
def test_every_key_is_a_field_with_the_schemas_description(node, cls, path):
    """One field per key, and each field's docstring is the key's schema description."""
    keys = set(node["properties"])
    fields = {base.key_of(f): f.name for f in base.key_fields(cls)}
    assert set(fields) == keys, (path, set(fields) ^ keys)
    docs = base.field_docs(cls)
    for key, name in fields.items():
        described = " ".join(_resolve(node["properties"][key])["description"].split())
        assert docs.get(name) == described, f"{path}.{key}: docstring != schema description"


@pytest.mark.parametrize(("node", "cls", "path"), SECTIONS, ids=IDS)
def test_a_key_has_a_default_exactly_when_the_schema_does_not_require_it(node, cls, path):
    without_default = {
        base.key_of(f)
        for f in base.key_fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert without_default == set(node.get("required", [])), path


def _bounds(node: dict) -> dict:
    node = _resolve(node)
    if node.get("type") == "array":
        node = node["items"]
    for branch in node.get("oneOf", []):
        if branch.get("type") in ("integer", "number"):
            node = branch
    keys = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
    return {k: node[k] for k in keys if k in node}


@pytest.mark.parametrize(("node", "cls", "path"), SECTIONS, ids=IDS)
def test_every_numeric_key_has_its_range_in_both_places(node, cls, path):
    """Each numeric field declares its range (finite at least), the same as the schema's."""
    for f in base.key_fields(cls):
        if not base.is_numeric(cls, f.name) or f.name in base.choices(cls):
            continue
        rng = base.ranges(cls).get(f.name)
        assert rng is not None, f"{path}.{f.name}: numeric key without a range"
        assert rng.schema() == _bounds(node["properties"][base.key_of(f)]), f"{path}.{f.name}"


@pytest.mark.parametrize(("node", "cls", "path"), SECTIONS, ids=IDS)
def test_choices_are_the_schemas_enums(node, cls, path):
    for name, allowed in base.choices(cls).items():
        sub = _resolve(node["properties"][name])
        sub = sub["items"] if sub.get("type") == "array" else sub
        assert set(allowed) == set(sub["enum"]) - {None}, f"{path}.{name}"


def _at(cfg: dict, path: str):
    for part in path.split(".") if path else []:
        if not isinstance(cfg, dict) or part not in cfg:
            return _MISSING
        cfg = cfg[part]
    return cfg


_MISSING = object()


@pytest.mark.parametrize(("node", "cls", "path"), SECTIONS, ids=IDS)
def test_defaults_agree_with_config_yaml(node, cls, path):
    """A field default is the one place a value is written in code; config.yaml, where it sets
    the key, shows the same value (e.g. autointerp.anthropic.windows_per_prompt)."""
    shown = _at(DEFAULT, path)
    if "<name>" in path or "[]" in path or shown is _MISSING:
        return
    for f in base.key_fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        default = base._plain(default)
        key = base.key_of(f)
        if key in shown:
            assert shown[key] == default, f"{path}.{key}: {shown[key]!r} != {default!r}"


# -- every numeric key: a negative or non-finite value stops the run, naming the key -------------

#: Keys whose meaningful values include negatives (log10 values): only non-finite ones are wrong.
NEGATIVE_ALLOWED = {
    "eval.density_log10_min",
    "eval.ignore_positions",  # negative positions count from the end of a sequence
    "toy.sae.l1_coefs.log10_min",
    "toy.sae.l1_coefs.log10_max",
}
FIRST_MODEL = next(iter(DEFAULT["models"]))
PRICED = next(iter(DEFAULT["autointerp"]["anthropic"]["prices"]))


def _numeric_keys(node: dict = SCHEMA, path: str = "") -> list[tuple[str, str, bool]]:
    """(dotted key, 'integer' | 'number', is a list) of every numeric key of the schema; a
    per-model key is named under the config's first model, a price under its first model."""
    out = []
    node = _resolve(node)
    for key, sub in (node.get("properties") or {}).items():
        sub = _resolve(sub)
        where = f"{path}.{key}".lstrip(".")
        kinds = sub.get("type") if isinstance(sub.get("type"), list) else [sub.get("type")]
        items = _resolve(sub.get("items", {}))
        branches = [b.get("type") for b in sub.get("oneOf", [])]
        for kind in ("integer", "number"):
            if kind in kinds or kind in branches:
                out.append((where, kind, False))
            if "array" in kinds and items.get("type") == kind:
                out.append((where, kind, True))
        if "properties" in sub:
            out += _numeric_keys(sub, where)
        if "properties" in items:  # a list of entries (artifacts.recompute): the first one's
            out += _numeric_keys(items, f"{where}[0]")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in extra:
            name = FIRST_MODEL if key == "models" else PRICED
            out += _numeric_keys(extra, f"{where}.{name}")
    return out


NUMERIC_KEYS = _numeric_keys()


#: A valid entry of each list of entries, and what the config needs for one to be allowed.
ENTRIES = {
    "artifacts.recompute": (
        {"model": FIRST_MODEL, "init": DEFAULT["inits"][0], "layer": 0},
        {"artifacts": {**DEFAULT["artifacts"], "from": "hub:org/run"}},
    )
}


def _with(path: str, value) -> dict:
    """The default config with ``value`` at ``path`` (``a.b[0].c``: in a list's first entry)."""
    cfg = copy.deepcopy(DEFAULT)
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        if p.endswith("[0]"):
            entry, needs = ENTRIES[path.split("[0]")[0]]
            cfg |= copy.deepcopy(needs)
            node = _at(cfg, path.split("[0]")[0].rsplit(".", 1)[0])
            node[p[:-3]] = [dict(entry)]
            node = node[p[:-3]][0]
        else:
            node = node.setdefault(p, {})
    node[last] = value
    return cfg


def test_the_numeric_keys_are_all_found():
    keys = {k for k, _, _ in NUMERIC_KEYS}
    assert len(keys) > 100
    assert {"seed", "sae.lr", f"models.{FIRST_MODEL}.sae.lr", "eval.ignore_token_ids"} <= keys
    assert f"autointerp.anthropic.prices.{PRICED}.input" in keys
    assert {"artifacts.rtol", "artifacts.recompute[0].layer"} <= keys
    assert keys >= NEGATIVE_ALLOWED


@pytest.mark.parametrize(
    ("key", "kind", "is_list"), NUMERIC_KEYS, ids=[k for k, *_ in NUMERIC_KEYS]
)
def test_negative_or_non_finite_value_is_rejected_naming_the_key(key, kind, is_list):
    """As the Snakefile checks a config before any job (check_config: the schema, then every
    section): each bad value is a ConfigError whose message starts with the key."""
    check_config(_with(key, _at(DEFAULT, key)) if _at(DEFAULT, key) is not _MISSING else DEFAULT)
    bad = [float("nan"), float("inf"), float("-inf")]
    if key not in NEGATIVE_ALLOWED:
        bad.append(-1 if kind == "integer" else -0.5)
    for value in bad:
        cfg = _with(key, [value] if is_list else value)
        with pytest.raises(ConfigError) as err:
            check_config(cfg, SCHEMA_PATH)
        assert str(err.value).startswith(key), (value, str(err.value))


def test_training_rules_params_build_their_section():
    """params.sae of the training rules leaves out a precision that computes in float32 (CPU):
    the adapters' section from it trains in float32, as the key's absence always meant."""
    from randsae.sections import SAEConfig

    sae = yaml.safe_load((Path(__file__).parent.parent / "config.yaml").read_text())["sae"]
    params = SAEConfig.rule_params(sae, device="cpu")
    assert "precision" not in params
    assert SAEConfig.from_rule_params(params).precision == "float32"
    kept = SAEConfig.rule_params({**sae, "precision": "bfloat16"}, device="cpu")
    assert SAEConfig.from_rule_params(kept).precision == "bfloat16"
