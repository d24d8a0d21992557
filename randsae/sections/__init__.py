"""The config's sections: frozen dataclasses, one per section, one field per key.

The JSON Schema (``config.schema.yaml``) checks keys and types; each section's ``__post_init__``
checks every numeric key's range and the invariants across its keys, and :class:`RunConfig` the
ones across sections. :func:`check_config` runs both when the Snakefile is parsed, before any
job; every error is a ``ConfigError`` naming the key. Stages take their sections (built by the
script adapters from the rules' params with ``<Section>.from_dict``), never the whole config.

One module per stage group: :mod:`.models` (models, init, data, tokenizer), :mod:`.sae`
(activations, sae), :mod:`.evaluate` (eval, examples), :mod:`.autointerp` (autointerp and the
judges), :mod:`.toy`, :mod:`.run` (the whole run); :mod:`.base` holds what they share.
"""

from randsae.errors import ConfigError
from randsae.sections.autointerp import (
    AnthropicSettings,
    AutointerpConfig,
    OpenAISettings,
    SimulationConfig,
)
from randsae.sections.evaluate import EvalConfig, ExamplesConfig
from randsae.sections.models import (
    ArchConfig,
    DataConfig,
    HFDatasetConfig,
    InitConfig,
    ModelConfig,
    ModelSource,
    SAEOverrides,
    TokenizerConfig,
    TrainConfig,
    models_from_dict,
)
from randsae.sections.publish import ArtifactsConfig, PublishConfig, RecomputeCell
from randsae.sections.run import FiguresConfig, RunConfig, cells, check_config, sae_config
from randsae.sections.sae import ActivationsConfig, SAEConfig
from randsae.sections.toy import (
    EmbeddingsConfig,
    GloveConfig,
    L1CoefsConfig,
    SharkeyConfig,
    SharkeyData,
    ToyConfig,
    ToyFiguresConfig,
    ToySAEConfig,
    TwoDConfig,
    Word2VecConfig,
    WordsConfig,
)

__all__ = [
    "ActivationsConfig",
    "ArtifactsConfig",
    "AnthropicSettings",
    "ArchConfig",
    "AutointerpConfig",
    "ConfigError",
    "DataConfig",
    "EmbeddingsConfig",
    "EvalConfig",
    "ExamplesConfig",
    "FiguresConfig",
    "GloveConfig",
    "HFDatasetConfig",
    "InitConfig",
    "L1CoefsConfig",
    "ModelConfig",
    "ModelSource",
    "OpenAISettings",
    "PublishConfig",
    "RecomputeCell",
    "RunConfig",
    "SAEConfig",
    "SAEOverrides",
    "SharkeyConfig",
    "SharkeyData",
    "SimulationConfig",
    "TokenizerConfig",
    "ToyConfig",
    "ToyFiguresConfig",
    "ToySAEConfig",
    "TrainConfig",
    "TwoDConfig",
    "Word2VecConfig",
    "WordsConfig",
    "cells",
    "check_config",
    "models_from_dict",
    "sae_config",
]
