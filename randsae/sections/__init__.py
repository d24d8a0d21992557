"""Frozen dataclasses of the config sections, built from the schema-validated dict.

The JSON Schema checks keys and types; each section's ``__post_init__`` checks the invariants a
schema cannot express (:func:`check_config` builds :class:`RunConfig` and so runs them all when
the Snakefile is parsed, before any job). Every error is a ``ConfigError`` naming the key.
``from_dict`` takes the section's declared fields; other keys of a section (validated by the
schema) are kept in ``extra`` so that a section can grow without breaking this module.

One module per stage group: :mod:`.models` (models, data), :mod:`.sae` (activations, sae),
:mod:`.evaluate` (eval, examples), :mod:`.autointerp`, :mod:`.run` (the whole run).
"""

from randsae.errors import ConfigError
from randsae.sections.autointerp import check_autointerp
from randsae.sections.evaluate import EvalConfig, ExamplesConfig
from randsae.sections.models import ArchConfig, ModelConfig
from randsae.sections.run import RunConfig, cells, check_config, check_variants, sae_config
from randsae.sections.sae import (
    ARCHITECTURES,
    FUSED_NORMALIZATIONS,
    NORMALIZATIONS,
    SAELENS_FAMILIES,
    ActivationsConfig,
    SAEConfig,
    family_error,
    micro_batch_error,
    sae_n_latents,
)

__all__ = [
    "ARCHITECTURES",
    "FUSED_NORMALIZATIONS",
    "NORMALIZATIONS",
    "SAELENS_FAMILIES",
    "ActivationsConfig",
    "ArchConfig",
    "ConfigError",
    "EvalConfig",
    "ExamplesConfig",
    "ModelConfig",
    "RunConfig",
    "SAEConfig",
    "cells",
    "check_autointerp",
    "check_config",
    "check_variants",
    "family_error",
    "micro_batch_error",
    "sae_config",
    "sae_n_latents",
]
