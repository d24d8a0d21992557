"""What every config section shares.

A section is a frozen dataclass (:class:`Section`) with one field per config key. Each field has a
docstring (the string right below it; ``config.schema.yaml`` holds the same text as the key's
description, tests/test_sections.py checks it) and, when it is numeric, its range as
``Annotated[int, at_least(1)]``: ``__post_init__`` rejects a value out of range, or not finite,
naming the key, before any job runs. A field has a default only when the schema does not require
its key, and that default is the one place the value is written in code (config.yaml shows the
same value; a test checks that they agree).

Adding a key: one field with its docstring (and range) in its section, the key in
``config.schema.yaml`` with the same description, and its line in ``config.yaml`` and
``configs/*.yaml``.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import textwrap
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, ClassVar, TypeVar

from randsae.errors import ConfigError

S = TypeVar("S", bound="Section")


@dataclasses.dataclass(frozen=True)
class Range:
    """The meaningful values of a numeric key: every value must be finite, and within the
    bounds given (``None`` = unbounded; ``*_open`` = the bound itself is excluded)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        lo = None if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = None if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        if lo and hi:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        return lo or hi or "finite"

    def error(self, value: Any) -> str | None:
        """Why ``value`` is out of range (None when it is fine or not a number)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value):
            return f"must be a finite number, got {value}"
        too_low = self.low is not None and (
            value < self.low or (self.low_open and value == self.low)
        )
        too_high = self.high is not None and (
            value > self.high or (self.high_open and value == self.high)
        )
        if too_low or too_high:
            return f"must be {self.describe()}, got {value}"
        return None

    def schema(self) -> dict[str, float]:
        """The same bounds as JSON Schema keywords (config.schema.yaml must state them)."""
        out: dict[str, float] = {}
        if self.low is not None:
            out["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        if self.high is not None:
            out["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        return out


def at_least(n: float) -> Range:
    return Range(low=n)


def between(low: float, high: float) -> Range:
    return Range(low=low, high=high)


POSITIVE = Range(low=0, low_open=True)
NON_NEGATIVE = Range(low=0)
PROBABILITY = Range(low=0, high=1)
FRACTION = Range(low=0, high=1, low_open=True, high_open=True)  # strictly between 0 and 1
NEGATIVE = Range(high=0, high_open=True)
FINITE = Range()  # a log10 value: any finite number


#: A count (tokens, steps, windows, latents...): a whole number, at least 1.
Count = Annotated[int, at_least(1)]


class _Unset:
    """A key left out of an override section (``None`` is a value there: ``lr: null``)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def not_key(default: Any = "") -> Any:
    """A field that is not a config key (the model a per-model section belongs to)."""
    return dataclasses.field(default=default, metadata={"key": False})


def aliased(key: str) -> Any:
    """A field whose config key is not a Python name (``artifacts.from``: the field ``source``)."""
    return dataclasses.field(metadata={"key": key})


def key_of(f: dataclasses.Field) -> str:
    """The config key of a field (its name, or the key :func:`aliased` gave it)."""
    key = f.metadata.get("key", True)
    return key if isinstance(key, str) else f.name


def section(path: str | None = None) -> Any:
    """Class decorator of a config section: a frozen, keyword-only dataclass whose errors name
    ``<path>.<key>`` (``path`` may name non-key fields: ``models.{model}.arch``; None keeps the
    base section's)."""

    def wrap(cls: type[S]) -> type[S]:
        if path is not None:
            cls.PATH = path
        return dataclasses.dataclass(frozen=True, kw_only=True)(cls)

    return wrap


class Section:
    """Base of every config section (subclasses are declared with :func:`section`).

    ``PATH`` is where the section sits in the config (``"sae"``, ``"models.{model}.arch"``,
    formatted with the section's non-key fields); errors name ``PATH.<key>``.
    """

    PATH: ClassVar[str] = ""

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any] | None, **context: Any) -> S:
        """The section from its (schema-validated) dict; nested sections are built from their
        dicts, lists become tuples. ``context``: the non-key fields (e.g. ``model=``), passed
        on to nested sections that have them."""
        data = dict(data or {})
        hints = type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs = {k: v for k, v in context.items() if k in names}
        for f in key_fields(cls):
            if key_of(f) in data:
                kwargs[f.name] = _convert(hints[f.name], data.pop(key_of(f)), context)
        where = cls.PATH.format(**{**{n: f"<{n}>" for n in names}, **context})
        if data:
            raise ConfigError(f"{where or '(config)'}: unknown keys {sorted(data)}")
        missing = [
            key_of(f)
            for f in key_fields(cls)
            if f.name not in kwargs
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ConfigError(f"{_join(where, missing[0])}: required key missing")
        return cls(**kwargs)

    @classmethod
    def from_optional(cls: type[S], data: Mapping[str, Any] | None, **context: Any) -> S | None:
        """:meth:`from_dict`, or None for None (a rule param that only some wildcards have)."""
        return None if data is None else cls.from_dict(data, **context)

    def replace(self: S, **changes: Any) -> S:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_dict(self, sparse: bool = False) -> dict[str, Any]:
        """The section as plain config data (keys only; nested sections as dicts, tuples as
        lists; keys left out of an override section are left out). ``sparse``: also leave out
        the optional keys that are unset (None, their default), as a config file would."""
        return {
            key_of(f): _plain(getattr(self, f.name), sparse)
            for f in key_fields(type(self))
            if getattr(self, f.name) is not UNSET
            and not (sparse and getattr(self, f.name) is None and f.default is None)
        }

    # -- checking ------------------------------------------------------------------------------
    def where(self, key: str = "") -> str:
        """The config path of ``key`` in this section (``sae.k``, ``models.m.arch.d_model``)."""
        ctx = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return _join(self.PATH.format(**ctx), key)

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {message}")

    def __post_init__(self) -> None:
        """Every numeric key within its range and every choice among its values (the schema
        checks them too; sections built from a rule's params are checked again here).
        Subclasses add their invariants after this."""
        keys = {f.name: key_of(f) for f in key_fields(type(self))}
        for name, rng in ranges(type(self)).items():
            value = getattr(self, name)
            for v in value if isinstance(value, tuple) else (value,):
                msg = rng.error(v)
                if msg:
                    raise self.error(keys[name], msg)
        for name, allowed in choices(type(self)).items():
            value = getattr(self, name)
            for v in value if isinstance(value, tuple) else (value,):
                if v is not None and v is not UNSET and v not in allowed:
                    raise self.error(
                        keys[name], f"must be one of {', '.join(map(str, allowed))}, got {v!r}"
                    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and key else path or key


def _plain(v: Any, sparse: bool = False) -> Any:
    if isinstance(v, Section):
        return v.to_dict(sparse)
    if isinstance(v, list | tuple):
        return [_plain(x, sparse) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x, sparse) for k, x in v.items()}
    return v


def _members(hint: Any) -> tuple[Any, ...]:
    """The types a hint admits (``Annotated`` stripped, ``X | None`` split)."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(hint) if a is not type(None))
    return (hint,)


def _convert(hint: Any, value: Any, context: Mapping[str, Any]) -> Any:
    if value is None or value is UNSET:
        return value
    if isinstance(value, Section):
        return value
    for t in _members(hint):
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, Section) and isinstance(value, Mapping):
            return t.from_dict(value, **context)
        if origin is tuple and isinstance(value, list | tuple):
            item = typing.get_args(t)[0]
            return tuple(_convert(item, v, context) for v in value)
        if origin is dict and isinstance(value, Mapping):
            item = typing.get_args(t)[1]
            return {k: _convert(item, v, context) for k, v in value.items()}
    return _plain(value) if isinstance(value, Mapping) else value


# -- introspection (cached per class) ------------------------------------------------------------
@cache
def type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


@cache
def key_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    """The fields that are config keys, in declaration order (not the non-key fields, nor the
    ones a section derives in ``__post_init__``)."""
    return tuple(f for f in dataclasses.fields(cls) if f.init and f.metadata.get("key", True))


@cache
def ranges(cls: type) -> dict[str, Range]:
    """Each numeric key's range (from its ``Annotated`` metadata)."""
    out = {}
    for f in key_fields(cls):
        hint = type_hints(cls)[f.name]
        if typing.get_origin(hint) is typing.Annotated:
            found = [m for m in hint.__metadata__ if isinstance(m, Range)]
            if found:
                out[f.name] = found[0]
    return out


@cache
def choices(cls: type) -> dict[str, tuple[Any, ...]]:
    """The allowed values of each key typed with a ``Literal`` (items of a tuple included)."""
    out = {}
    for f in key_fields(cls):
        members = [
            typing.get_args(t)[0] if typing.get_origin(t) is tuple else t
            for t in _members(type_hints(cls)[f.name])
        ]
        if members and all(typing.get_origin(t) is typing.Literal for t in members):
            out[f.name] = tuple(v for t in members for v in typing.get_args(t))
    return out


def is_numeric(cls: type, name: str) -> bool:
    """A key whose values (or items) are numbers."""
    for t in _members(type_hints(cls)[name]):
        if typing.get_origin(t) is tuple:
            t = typing.get_args(t)[0]
        if t in (int, float):
            return True
    return False


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal right below it), base classes' included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body  # type: ignore[attr-defined]
        for stmt, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs
