"""Frozen dataclasses of the config sections, built from the schema-validated dict.

The JSON Schema checks keys and types; each section's ``__post_init__`` checks the invariants a
schema cannot express (``randsae.config.check_config`` builds :class:`RunConfig` and so runs them
all when the Snakefile is parsed, before any job). Every error is a ``ConfigError`` naming the key.
``from_dict`` takes the section's declared fields; other keys of a section (validated by the
schema) are kept in ``extra`` so that a section can grow without breaking this module.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from randsae.config import (
    ConfigError,
    family_error,
    micro_batch_error,
    model_shape,
    parse_init,
    sae_n_latents,
)

S = TypeVar("S")


def _build(cls: type[S], data: dict[str, Any], **extra_fields: Any) -> S:
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}  # type: ignore[arg-type]
    known = {k: v for k, v in data.items() if k in names}
    rest = {k: v for k, v in data.items() if k not in names}
    return cls(**known, **extra_fields, extra=rest)  # type: ignore[call-arg]


@dataclass(frozen=True)
class ArchConfig:
    """An embedded GPT-NeoX architecture (``models.<name>.arch``): the fields the checks read
    (in :class:`ModelConfig`); ``n_layers``, ``d_mlp`` and any other key stay in ``extra``."""

    model: str
    d_model: int
    n_heads: int
    d_head: int = field(init=False)  # d_model // n_heads
    n_ctx: int
    rotary_dim: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "d_head", self.d_model // self.n_heads)


@dataclass(frozen=True)
class ModelConfig:
    """One entry of ``models``: where the weights come from and which layers are studied."""

    name: str
    source: str
    layers: tuple[int, ...]
    n_layers: int
    d_model: int
    hf_name: str | None = None
    arch: ArchConfig | None = None
    train: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> ModelConfig:
        shape = model_shape(name, d)  # raises for a missing arch / hf_name
        data = dict(d, layers=tuple(d.get("layers", ())))
        if d.get("arch") is not None:
            data["arch"] = _build(ArchConfig, d["arch"], model=name)
        return _build(cls, data, name=name, **shape)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name):
            raise ConfigError(
                f"models.{self.name}: model names may use letters, digits, '.', '_' and '-'"
            )
        if not self.layers:
            raise ConfigError(f"models.{self.name}.layers: list at least one layer")
        for layer in self.layers:
            if layer < 0 or layer >= self.n_layers:
                raise ConfigError(
                    f"models.{self.name}.layers: layer {layer} is out of range; "
                    f"the model has {self.n_layers} layers (0..{self.n_layers - 1})"
                )
        if len(set(self.layers)) != len(self.layers):
            raise ConfigError(f"models.{self.name}.layers: duplicate layers {list(self.layers)}")
        if self.source == "embedded" and self.train is None:
            raise ConfigError(f"models.{self.name}.train is required for source 'embedded'")
        a = self.arch
        if a is not None and a.d_model % a.n_heads:
            raise ConfigError(f"models.{a.model}.arch.d_model must be divisible by n_heads")
        if a is not None and a.rotary_dim > a.d_head:
            raise ConfigError(f"models.{a.model}.arch.rotary_dim exceeds d_head")


@dataclass(frozen=True)
class ActivationsConfig:
    """``activations``: the residual-stream tokens SAEs train on and how they are produced."""

    source: Literal["cache", "stream"]
    n_train_tokens: int
    context_size: int
    batch_size: int
    shard_tokens: int
    dtype: Literal["float32", "float16"]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SAEConfig:
    """``sae``: the SAE recipe (family-specific keys stay in ``extra``)."""

    k: int
    expansion_factor: int
    n_tokens: int
    batch_size: int
    #: Arithmetic of the encoder matmul and top-k: ``float32`` | ``tf32`` | ``bfloat16`` |
    #: ``auto`` (bfloat16 on CUDA, float32 elsewhere); weights, Adam and the saved SAE stay fp32
    #: (``randsae.sae.precision``).
    precision: Literal["float32", "tf32", "bfloat16", "auto"] = "float32"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        err = micro_batch_error({"batch_size": self.batch_size, **self.extra})
        if err:
            raise ConfigError(err)
        err = family_error({"batch_size": self.batch_size, **self.extra})
        if err:
            raise ConfigError(err)

    def n_latents(self, d_model: int) -> int:
        return sae_n_latents({"expansion_factor": self.expansion_factor, **self.extra}, d_model)


@dataclass(frozen=True)
class EvalConfig:
    """``eval``: held-out tokens and settings of the quality and abstractness metrics."""

    n_tokens: int
    batch_size: int
    density_bins: int
    ignore_token_ids: tuple[int, ...]
    density_log10_min: float
    entropy_top_n: int
    r2_min_count: int
    abstractness_min_activations: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExamplesConfig:
    """``examples``: the latent-activation cache and the windows drawn for auto-interp."""

    n_latents: int | str  # "all": every eligible latent
    n_tokens: int
    context_size: int
    window: int
    min_activating_windows: int
    n_explain: int
    n_test_activating: int
    n_test_nonactivating: int
    n_quantiles: int
    max_activating_windows: int | None = None  # None: every activating window is in the pool
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_drawn = self.n_explain + self.n_test_activating  # explainer + test windows of a latent
        if self.context_size % self.window:
            raise ConfigError("examples.window must divide examples.context_size")
        if self.n_explain % self.n_quantiles or self.n_test_activating % self.n_quantiles:
            raise ConfigError(
                "examples.n_explain and n_test_activating must be multiples of n_quantiles"
            )
        if self.min_activating_windows < n_drawn:
            raise ConfigError(
                "examples.min_activating_windows must be >= n_explain + n_test_activating "
                "(explainer and test windows are disjoint)"
            )
        if self.max_activating_windows is not None and self.max_activating_windows < n_drawn:
            raise ConfigError(
                "examples.max_activating_windows must be >= n_explain + n_test_activating "
                "(both are drawn from the pool it bounds)"
            )


def _check_data(data: dict[str, Any]) -> None:
    """``data``: the jsonl route needs the repo's files, in its loading script's order."""
    ds = data.get("hf_dataset") or {}
    jsonl = data.get("source") == "hf_dataset" and ds.get("loader") == "jsonl_files"
    if jsonl and not ds.get("data_files"):
        raise ConfigError(
            "data.hf_dataset.data_files: loader 'jsonl_files' needs the repo's jsonl files, "
            "in the order its loading script reads them"
        )


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
        _check_data(config.get("data") or {})
        return cls(
            seed=config["seed"],
            device=config["device"],
            models={n: ModelConfig.from_dict(n, m) for n, m in models.items()},
            inits=tuple(config.get("inits") or ()),
            init=dict(config.get("init") or {}),
            activations=_build(ActivationsConfig, config["activations"]),
            sae=_build(SAEConfig, config["sae"]),
            eval=_build(
                EvalConfig,
                dict(config["eval"], ignore_token_ids=tuple(config["eval"]["ignore_token_ids"])),
            ),
            examples=_build(ExamplesConfig, config["examples"]),
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
