"""The whole run: :class:`RunConfig` (the grid and every stage's section) and the checks that
span sections, built when the Snakefile is parsed (before any job)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from randsae.errors import ConfigError
from randsae.models.inits import parse_init
from randsae.sections.autointerp import AutointerpConfig
from randsae.sections.base import NON_NEGATIVE, Section, section
from randsae.sections.evaluate import EvalConfig, ExamplesConfig
from randsae.sections.models import (
    DataConfig,
    InitConfig,
    ModelConfig,
    TokenizerConfig,
    models_from_dict,
)
from randsae.sections.publish import ArtifactsConfig, PublishConfig
from randsae.sections.sae import ActivationsConfig, SAEConfig
from randsae.sections.schema import validate_schema
from randsae.sections.toy import ToyConfig


@section("figures")
class FiguresConfig(Section):
    """``figures``: the figure files every figure rule writes."""

    formats: tuple[Literal["pdf", "png", "svg"], ...]
    """figure file formats"""


@section()
class RunConfig(Section):
    """The whole config: the grid and every stage's section."""

    seed: Annotated[int, NON_NEGATIVE]
    """master seed; per-job seeds derive from it by a stable sha256 hash"""
    device: Literal["cpu", "cuda", "auto"]
    """torch device for model and SAE work"""
    data: DataConfig
    """the text corpus: gensim's offline test corpora or an online Hugging Face dataset"""
    tokenizer: TokenizerConfig
    """the byte-level BPE trained in the DAG for the embedded models"""
    models: dict[str, ModelConfig]
    """model name -> settings; the name is the `model` wildcard (size is part of it)"""
    inits: tuple[str, ...]
    """model variants: init names registered in randsae.models.inits (register_init; docs/inits.md describes each); the resampled ones (rerandomized*) may add -x<scale> and -normal|-uniform|-laplace"""
    init: InitConfig
    """the model variants' settings: seed, layer norms, noise, re-randomization scale and distribution"""
    activations: ActivationsConfig
    """the residual-stream tokens SAEs train on and how they are produced"""
    sae: SAEConfig
    """the SAE recipe (paper: TopK, k = 32, 64 x d_model latents); models.<name>.sae overrides it per model"""
    eval: EvalConfig
    """held-out tokens and settings of the SAE quality and abstractness metrics"""
    examples: ExamplesConfig
    """the latent-activation cache and the windows drawn for auto-interpretability"""
    autointerp: AutointerpConfig
    """auto-interpretability: explanations and detection/fuzzing scores of sampled latents"""
    figures: FiguresConfig
    """figure files"""
    toy: ToyConfig
    """Toy models of superposition through random networks (paper Section 4)."""
    publish: PublishConfig
    """Where `snakemake publish` (a target, never part of the default run) uploads the finished run: every SAE through sae-lens's upload function, the tables, figures, per-cell results, manifest, merged config and a model card. The token comes from HF_TOKEN only (docs/publish.md)."""
    artifacts: ArtifactsConfig
    """The reviewer path: with `from` set, downloads of a published run replace every training and evaluation job, each file checked against the published manifest's sha256; the report rules rebuild tables, claims, figures and pages without a GPU (docs/publish.md)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, **context: Any) -> RunConfig:  # type: ignore[override]
        data = dict(data or {})
        models = data.pop("models", None) or {}
        if not models:
            raise ConfigError("models: at least one model is required")
        return super().from_dict({**data, "models": models_from_dict(models)}, **context)  # type: ignore[return-value]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.inits:
            raise ConfigError("inits: list at least one init")
        for init in self.inits:
            parse_init(init, self.init)
        if len(set(self.inits)) != len(self.inits):
            raise ConfigError(f"inits: duplicate names in {list(self.inits)}")
        for key, ctx in (
            ("activations.context_size", self.activations.context_size),
            ("examples.context_size", self.examples.context_size),
        ):
            bad = [p for p in self.eval.ignore_positions if not -ctx <= p < ctx]
            if bad:
                raise ConfigError(f"eval.ignore_positions: {bad} outside a sequence ({key}={ctx})")
        for name, m in self.models.items():
            base = m.variant_of
            if base is not None and base not in self.models:
                raise m.error("variant_of", f"{base!r} is not a model of this config")
            if base is not None and self.models[base].variant_of is not None:
                raise m.error("variant_of", f"{base!r} is itself a variant")
            self.sae_for(name).width(m.d_model)
            if m.arch is not None:
                for key, val in (
                    ("activations.context_size", self.activations.context_size),
                    ("examples.context_size", self.examples.context_size),
                ):
                    if val > m.arch.n_ctx:
                        raise ConfigError(
                            f"{key}={val} exceeds models.{name}.arch.n_ctx={m.arch.n_ctx}"
                        )
        toy = self.toy
        for name in toy.embeddings.models if toy.enabled and toy.embeddings.enabled else ():
            if name not in self.models:
                raise self.toy.embeddings.error(
                    "models", f"{name!r} is not a key of models: ({list(self.models)})"
                )

        self._check_recompute()

    def _check_recompute(self) -> None:
        """Every ``artifacts.recompute`` cell is a cell of this grid."""
        for i, cell in enumerate(self.artifacts.recompute):
            key = f"artifacts.recompute[{i}]"
            if cell.model not in self.models:
                raise ConfigError(f"{key}.model: {cell.model!r} is not a key of models")
            if cell.init not in self.inits:
                raise ConfigError(
                    f"{key}.init: {cell.init!r} is not one of inits {list(self.inits)}"
                )
            layers = list(self.models[cell.model].layers)
            if cell.layer not in layers:
                raise ConfigError(
                    f"{key}.layer: {cell.layer} is not a layer of models.{cell.model} ({layers})"
                )

    def sae_for(self, model: str) -> SAEConfig:
        """The ``sae`` section of one model: ``models.<model>.sae`` overrides applied (an error
        names the override's key when it comes from one)."""
        over = self.models[model].sae
        keys = over.overrides() if over is not None else {}
        try:
            sae = self.sae.replace(**keys)
            sae.width(self.models[model].d_model)
        except ConfigError as err:
            key = str(err).split(":", 1)[0].removeprefix("sae.")
            where = f"models.{model}.sae.{key}" if key in keys else f"sae.{key}"
            raise ConfigError(f"{where}:{str(err).split(':', 1)[1]} ({model})") from None
        return sae

    def document(self) -> dict[str, Any]:
        """The run's config as a document (the config file it reads as, every value it uses, the
        keys it leaves unset out): what `snakemake publish` uploads and the config digest of the
        report captions and model card hashes (randsae.publish.settings.config_sha256)."""
        return self.to_dict(sparse=True)

    def layer_group_size(self, model: str) -> int:
        """Stream mode: layers per job (per-model override of sae.layer_group_size)."""
        return self.models[model].layer_group_size or self.sae_for(model).layer_group_size

    def cells(self) -> list[tuple[str, str, int]]:
        """All (model, init, layer) cells of the grid, in config order."""
        return [
            (m, i, layer)
            for m, mc in self.models.items()
            for i in self.inits
            for layer in mc.layers
        ]


def check_config(config: Mapping[str, Any], schema: str | Path | None = None) -> RunConfig:
    """The run's :class:`RunConfig`, or a :class:`ConfigError` naming the first bad key: the
    JSON Schema first (``schema``: the path of config.schema.yaml), then every section's
    ``__post_init__``."""
    if schema is not None:
        validate_schema(config, schema)
    return RunConfig.from_dict(config)


def cells(config: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """All (model, init, layer) cells of a config document (a published run's, say), in order."""
    return [
        (m, init, layer)
        for m, mcfg in config["models"].items()
        for init in config["inits"]
        for layer in mcfg["layers"]
    ]


def sae_config(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The ``sae`` section for one model as plain data: ``config["sae"]`` with
    ``models.<model>.sae`` overrides on top (the rules' params are built from it)."""
    return {**config["sae"], **(config["models"][model].get("sae") or {})}
