"""Cross-field config checks, grid expansion and stable seeds.

The JSON Schema (``config.schema.yaml``) checks keys and types; this module checks what a schema
cannot: layers within the model's depth, init names, embedded-model architecture consistency.
Everything here is cheap and runs when the Snakefile is parsed, before any job starts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

BASE_INITS = ("trained", "step0", "rerandomized", "rerandomized_embeddings", "noise_control")
DISTRIBUTIONS = ("normal", "uniform", "laplace")

# Init names may carry a scale multiplier and a distribution (beyond the paper, issue "init sweep"):
#   rerandomized-x0.5-uniform, rerandomized_embeddings-x2, rerandomized-laplace
INIT_RE = re.compile(
    r"^(?P<base>trained|step0|rerandomized_embeddings|rerandomized|noise_control)"
    r"(?:-x(?P<scale>[0-9]+(?:\.[0-9]+)?))?"
    r"(?:-(?P<dist>normal|uniform|laplace))?$"
)

# Standard Pythia shapes (paper.md §2.1) so that layer indices are checked without any download.
PYTHIA_SHAPES: dict[str, dict[str, int]] = {
    "pythia-14m": {"n_layers": 6, "d_model": 128},
    "pythia-70m": {"n_layers": 6, "d_model": 512},
    "pythia-160m": {"n_layers": 12, "d_model": 768},
    "pythia-410m": {"n_layers": 24, "d_model": 1024},
    "pythia-1b": {"n_layers": 16, "d_model": 2048},
    "pythia-1.4b": {"n_layers": 24, "d_model": 2048},
    "pythia-2.8b": {"n_layers": 32, "d_model": 2560},
    "pythia-6.9b": {"n_layers": 32, "d_model": 4096},
    "pythia-12b": {"n_layers": 36, "d_model": 5120},
}


class ConfigError(ValueError):
    """A config value is invalid; the message names the offending key."""


@dataclass(frozen=True)
class InitSpec:
    """A parsed init name."""

    name: str
    base: str
    scale: float
    distribution: str

    @property
    def rerandomizes(self) -> bool:
        return self.base in ("rerandomized", "rerandomized_embeddings")


def parse_init(name: str, init_cfg: dict[str, Any] | None = None) -> InitSpec:
    """Parse an init name; defaults for scale/distribution come from the ``init`` config section."""
    m = INIT_RE.match(name)
    if m is None:
        raise ConfigError(
            f"inits: unknown init name {name!r}; expected one of {', '.join(BASE_INITS)} "
            "(rerandomized* may add '-x<scale>' and '-normal|-uniform|-laplace')"
        )
    init_cfg = init_cfg or {}
    base = m.group("base")
    if (m.group("scale") or m.group("dist")) and base not in (
        "rerandomized",
        "rerandomized_embeddings",
    ):
        raise ConfigError(
            f"inits: {name!r}: scale/distribution suffixes apply to rerandomized* only"
        )
    scale = float(m.group("scale")) if m.group("scale") else float(init_cfg.get("scale", 1.0))
    dist = m.group("dist") or init_cfg.get("distribution", "normal")
    return InitSpec(name=name, base=base, scale=scale, distribution=dist)


def pythia_shape(hf_name: str) -> dict[str, int]:
    """Shape of an official Pythia model from its hub name (``EleutherAI/pythia-70m-deduped``)."""
    short = hf_name.split("/")[-1].removesuffix("-deduped").removesuffix("-v0")
    if short not in PYTHIA_SHAPES:
        raise ConfigError(
            f"models: {hf_name!r} is not a known Pythia model ({', '.join(PYTHIA_SHAPES)})"
        )
    return PYTHIA_SHAPES[short]


def model_shape(name: str, mcfg: dict[str, Any]) -> dict[str, int]:
    """n_layers and d_model of a configured model, without loading it."""
    if mcfg["source"] == "embedded":
        arch = mcfg.get("arch")
        if arch is None:
            raise ConfigError(f"models.{name}.arch is required for source 'embedded'")
        return {"n_layers": arch["n_layers"], "d_model": arch["d_model"]}
    hf = mcfg.get("hf_name")
    if not hf:
        raise ConfigError(f"models.{name}.hf_name is required for source 'pythia'")
    return pythia_shape(hf)


def check_config(config: dict[str, Any]) -> None:
    """Raise ConfigError for cross-field problems the schema cannot express."""
    models = config.get("models") or {}
    if not models:
        raise ConfigError("models: at least one model is required")
    for name, mcfg in models.items():
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise ConfigError(
                f"models.{name}: model names may use letters, digits, '.', '_' and '-'"
            )
        shape = model_shape(name, mcfg)
        layers = mcfg.get("layers", [])
        if not layers:
            raise ConfigError(f"models.{name}.layers: list at least one layer")
        for layer in layers:
            if layer < 0 or layer >= shape["n_layers"]:
                raise ConfigError(
                    f"models.{name}.layers: layer {layer} is out of range; "
                    f"the model has {shape['n_layers']} layers (0..{shape['n_layers'] - 1})"
                )
        if len(set(layers)) != len(layers):
            raise ConfigError(f"models.{name}.layers: duplicate layers {layers}")
        if mcfg["source"] == "embedded":
            arch = mcfg["arch"]
            if arch["d_model"] % arch["n_heads"]:
                raise ConfigError(f"models.{name}.arch.d_model must be divisible by n_heads")
            if arch["rotary_dim"] > arch["d_model"] // arch["n_heads"]:
                raise ConfigError(f"models.{name}.arch.rotary_dim exceeds d_head")
            if "train" not in mcfg:
                raise ConfigError(f"models.{name}.train is required for source 'embedded'")
    inits = config.get("inits") or []
    if not inits:
        raise ConfigError("inits: list at least one init")
    for init in inits:
        parse_init(init, config.get("init"))
    if len(set(inits)) != len(inits):
        raise ConfigError(f"inits: duplicate names in {inits}")
    for name, mcfg in models.items():
        base = mcfg.get("variant_of")
        if base is not None and base not in models:
            raise ConfigError(f"models.{name}.variant_of: {base!r} is not a model of this config")
        if base is not None and models[base].get("variant_of") is not None:
            raise ConfigError(f"models.{name}.variant_of: {base!r} is itself a variant")
        sae = sae_config(config, name)
        key = f"models.{name}.sae.k" if "k" in mcfg.get("sae", {}) else "sae.k"
        d_sae = sae["expansion_factor"] * model_shape(name, mcfg)["d_model"]
        if sae["k"] >= d_sae:
            raise ConfigError(
                f"{key}: k={sae['k']} must be smaller than n_latents={d_sae} ({name})"
            )
    ex = config["examples"]
    if ex["context_size"] % ex["window"]:
        raise ConfigError("examples.window must divide examples.context_size")
    if ex["n_explain"] % ex["n_quantiles"] or ex["n_test_activating"] % ex["n_quantiles"]:
        raise ConfigError(
            "examples.n_explain and n_test_activating must be multiples of n_quantiles"
        )
    if ex["min_activating_windows"] < ex["n_explain"] + ex["n_test_activating"]:
        raise ConfigError(
            "examples.min_activating_windows must be >= n_explain + n_test_activating "
            "(explainer and test windows are disjoint)"
        )
    for name, mcfg in models.items():
        if mcfg["source"] == "embedded":
            n_ctx = mcfg["arch"]["n_ctx"]
            for key, val in (
                ("activations.context_size", config["activations"]["context_size"]),
                ("examples.context_size", ex["context_size"]),
            ):
                if val > n_ctx:
                    raise ConfigError(f"{key}={val} exceeds models.{name}.arch.n_ctx={n_ctx}")


def sae_config(config: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``sae`` section for one model: ``config["sae"]`` with ``models.<model>.sae`` overrides
    (SAE variants of the appendix experiments) on top."""
    return {**config["sae"], **(config["models"][model].get("sae") or {})}


def canonical(obj: Any) -> Any:
    """The same config with every mapping's keys sorted (lists keep their order)."""
    if isinstance(obj, dict):
        return {k: canonical(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from a sha256 of the parts (never Python's salted ``hash``)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest, 16) % (2**31)


def cells(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    """All (model, init, layer) cells of the grid, in config order."""
    return [
        (m, init, layer)
        for m, mcfg in config["models"].items()
        for init in config["inits"]
        for layer in mcfg["layers"]
    ]
