"""The config's JSON Schema (``config.schema.yaml``: keys, types, enums, ranges), checked with its
first error named by the key's dotted path (``sae.k: nan is not of type 'integer'``)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from randsae.errors import ConfigError


@cache
def load_schema(path: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def key_path(parts: Any) -> str:
    """``sae.k``, ``models.tiny.layers[1]``, ``(config)`` for the top level."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(config)"


def validate_schema(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` for the first schema violation, naming its key (an unknown key
    is named by itself)."""
    import jsonschema

    schema = load_schema(str(schema_path))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        err = errors[0]
        raise ConfigError(f"{key_path(err.absolute_path)}: {err.message}")
