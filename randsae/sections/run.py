"""The whole run: :class:`RunConfig` (the grid and every stage's section) and the checks that
span sections, built when the Snakefile is parsed (before any job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from randsae.errors import ConfigError
from randsae.models.inits import parse_init
from randsae.models.shapes import model_shape
from randsae.sections.autointerp import check_autointerp
from randsae.sections.base import build
from randsae.sections.evaluate import EvalConfig, ExamplesConfig
from randsae.sections.models import ModelConfig, check_data
from randsae.sections.sae import ActivationsConfig, SAEConfig, micro_batch_error


@dataclass(frozen=True)
class RunConfig:
    """The grid and the settings every stage of the SAE pipeline reads."""

    seed: int
    device: str
    models: dict[str, ModelConfig]
    inits: tuple[str, ...]
    init: dict[str, Any]
    activations: ActivationsConfig
    sae: SAEConfig
    eval: EvalConfig
    examples: ExamplesConfig

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> RunConfig:
        models = config.get("models") or {}
        if not models:
            raise ConfigError("models: at least one model is required")
        check_data(config.get("data") or {})
        return cls(
            seed=config["seed"],
            device=config["device"],
            models={n: ModelConfig.from_dict(n, m) for n, m in models.items()},
            inits=tuple(config.get("inits") or ()),
            init=dict(config.get("init") or {}),
            activations=build(ActivationsConfig, config["activations"]),
            sae=build(SAEConfig, config["sae"]),
            eval=build(
                EvalConfig,
                dict(config["eval"], ignore_token_ids=tuple(config["eval"]["ignore_token_ids"])),
            ),
            examples=build(ExamplesConfig, config["examples"]),
        )

    def __post_init__(self) -> None:
        if not self.inits:
            raise ConfigError("inits: list at least one init")
        for init in self.inits:
            parse_init(init, self.init)
        if len(set(self.inits)) != len(self.inits):
            raise ConfigError(f"inits: duplicate names in {list(self.inits)}")
        for name, m in self.models.items():
            d_sae = self.sae.n_latents(m.d_model)
            if self.sae.k >= d_sae:
                raise ConfigError(
                    f"sae.k: k={self.sae.k} must be smaller than n_latents={d_sae} ({name})"
                )
        for name, m in self.models.items():
            if m.arch is None:
                continue
            for key, val in (
                ("activations.context_size", self.activations.context_size),
                ("examples.context_size", self.examples.context_size),
            ):
                if val > m.arch.n_ctx:
                    raise ConfigError(
                        f"{key}={val} exceeds models.{name}.arch.n_ctx={m.arch.n_ctx}"
                    )

    def cells(self) -> list[tuple[str, str, int]]:
        """All (model, init, layer) cells of the grid, in config order."""
        return [
            (m, i, layer)
            for m, mc in self.models.items()
            for i in self.inits
            for layer in mc.layers
        ]


def check_config(config: dict[str, Any]) -> Any:
    """Raise ConfigError for cross-field problems the schema cannot express.

    Builds the frozen section dataclasses (:class:`RunConfig`), whose ``__post_init__`` hold
    the checks, and returns it.
    """
    run = RunConfig.from_dict(config)
    check_variants(config)
    check_autointerp(config["autointerp"])
    return run


def check_variants(config: dict[str, Any]) -> None:
    """SAE variants (``models.<m>.variant_of`` + ``models.<m>.sae`` overrides, the appendix
    experiments): the base exists and is no variant itself, and each variant's k fits its width."""
    models = config["models"]
    for name, mcfg in models.items():
        base = mcfg.get("variant_of")
        if base is not None and base not in models:
            raise ConfigError(f"models.{name}.variant_of: {base!r} is not a model of this config")
        if base is not None and models[base].get("variant_of") is not None:
            raise ConfigError(f"models.{name}.variant_of: {base!r} is itself a variant")
        sae = sae_config(config, name)
        key = f"models.{name}.sae.k" if "k" in (mcfg.get("sae") or {}) else "sae.k"
        d_sae = sae["expansion_factor"] * model_shape(name, mcfg)["d_model"]
        if sae["k"] >= d_sae:
            raise ConfigError(
                f"{key}: k={sae['k']} must be smaller than n_latents={d_sae} ({name})"
            )
        err = micro_batch_error(sae)
        if err:
            raise ConfigError(f"models.{name}.sae: {err}")


def sae_config(config: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``sae`` section for one model: ``config["sae"]`` with ``models.<model>.sae`` overrides
    (SAE variants of the appendix experiments) on top."""
    return {**config["sae"], **(config["models"][model].get("sae") or {})}


def cells(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    """All (model, init, layer) cells of the grid, in config order."""
    return [
        (m, init, layer)
        for m, mcfg in config["models"].items()
        for init in config["inits"]
        for layer in mcfg["layers"]
    ]
