"""What every config section shares: building a frozen section from its validated dict."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

S = TypeVar("S")


def build(cls: type[S], data: dict[str, Any], **extra_fields: Any) -> S:
    """``cls`` from a section dict: its declared fields, the other keys in ``extra``."""
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}  # type: ignore[arg-type]
    known = {k: v for k, v in data.items() if k in names}
    rest = {k: v for k, v in data.items() if k not in names}
    return cls(**known, **extra_fields, extra=rest)  # type: ignore[call-arg]
