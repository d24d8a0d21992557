"""The ``publish`` and ``artifacts`` config sections as frozen dataclasses.

``publish`` says where ``snakemake publish`` uploads a finished run; ``artifacts`` turns any
config into the reviewer path (downloads of a published run instead of training and evaluation).
The JSON Schema checks keys and types; ``__post_init__`` checks what it cannot, and
:func:`check_sections` what needs the grid. Every error is a ``ConfigError`` naming the key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from randsae.errors import ConfigError

#: A Hub repo id: ``namespace/name`` (letters, digits, ``-``, ``_``, ``.``; at most 96 each).
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}")
#: ``artifacts.from``: ``hub:<namespace>/<name>`` with an optional ``@<revision>``.
SOURCE = re.compile(r"hub:(?P<repo>[^@\s]+)(?:@(?P<revision>[^\s]+))?")
#: Sections that say where results go or come from, not what a run computes: left out of the
#: config digest that report captions and the model card show.
NON_RUN_SECTIONS = ("publish", "artifacts")


def _check_repo(key: str, repo: str) -> None:
    if not REPO_ID.fullmatch(repo) or ".." in repo or repo.endswith((".git", ".")):
        raise ConfigError(f"{key}: {repo!r} is not a Hub repo id of the form 'namespace/name'")


def _check_revision(key: str, revision: str) -> None:
    if not revision or re.search(r"\s|\.\.|[~^:?*\[\\]", revision):
        raise ConfigError(f"{key}: {revision!r} is not a usable branch name")


@dataclass(frozen=True)
class PublishConfig:
    """``publish``: where ``snakemake publish`` uploads the run."""

    repo: str | None = None
    """Hub model repo id (``namespace/name``); None: publishing is off."""
    revision: str = "main"
    """Branch the files are committed to (created from ``main`` when it does not exist)."""
    create: bool = False
    """Create the repo when it does not exist (otherwise publishing stops and says so)."""
    private: bool = True
    """Visibility of a repo that publishing creates."""
    allow_dirty_code: bool = False
    """Publish a run whose workflow checkout had uncommitted changes (``git_commit`` ``-dirty``)."""

    def __post_init__(self) -> None:
        if self.repo is not None:
            _check_repo("publish.repo", self.repo)
        _check_revision("publish.revision", self.revision)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> PublishConfig:
        return cls(**dict(d or {}))


@dataclass(frozen=True)
class Cell:
    """One ``artifacts.recompute`` entry: a cell of the grid to re-evaluate."""

    model: str
    """A key of ``models``."""
    init: str
    """One of ``inits``."""
    layer: int
    """One of the model's ``layers``."""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.init, self.layer)


@dataclass(frozen=True)
class ArtifactsConfig:
    """``artifacts``: the reviewer path (downloads of a published run instead of training)."""

    source: str | None = None
    """``artifacts.from``: ``hub:<namespace>/<name>[@<revision>]``; None: train and evaluate."""
    recompute: tuple[Cell, ...] = ()
    """Cells re-evaluated from the downloaded SAEs and compared with the published metrics."""
    rtol: float = 0.01
    """Relative tolerance of the spot check (``|new - published| <= atol + rtol * |published|``)."""
    atol: float = 1e-4
    """Absolute tolerance of the spot check."""
    repo: str | None = field(init=False, default=None)
    """The repo id of ``source`` (derived)."""
    revision: str = field(init=False, default="main")
    """The revision of ``source`` (derived; ``main`` when not given)."""

    def __post_init__(self) -> None:
        if self.source is not None:
            m = SOURCE.fullmatch(self.source)
            if not m:
                raise ConfigError(
                    f"artifacts.from: {self.source!r} must read hub:<namespace>/<name>[@<revision>]"
                )
            _check_repo("artifacts.from", m.group("repo"))
            object.__setattr__(self, "repo", m.group("repo"))
            object.__setattr__(self, "revision", m.group("revision") or "main")
        if self.recompute and self.source is None:
            raise ConfigError("artifacts.recompute: needs artifacts.from (the run to check)")
        for key in ("rtol", "atol"):
            if not getattr(self, key) >= 0:
                raise ConfigError(f"artifacts.{key}: must be >= 0, got {getattr(self, key)}")
        keys = [c.key for c in self.recompute]
        if len(set(keys)) != len(keys):
            raise ConfigError("artifacts.recompute: a cell is listed twice")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ArtifactsConfig:
        d = dict(d or {})
        cells = []
        for i, c in enumerate(d.pop("recompute", None) or []):
            if not isinstance(c, Mapping) or set(c) != {"model", "init", "layer"}:
                raise ConfigError(f"artifacts.recompute[{i}]: give exactly model, init and layer")
            cells.append(Cell(str(c["model"]), str(c["init"]), int(c["layer"])))
        return cls(source=d.pop("from", None), recompute=tuple(cells), **d)

    @property
    def reviewer(self) -> bool:
        """True when the run downloads published artifacts instead of computing them."""
        return self.source is not None


def check_sections(config: Mapping[str, Any]) -> tuple[PublishConfig, ArtifactsConfig]:
    """Both sections, checked; every recompute cell must be a cell of this config's grid."""
    publish = PublishConfig.from_dict(config.get("publish"))
    artifacts = ArtifactsConfig.from_dict(config.get("artifacts"))
    models, inits = config["models"], list(config["inits"])
    for i, cell in enumerate(artifacts.recompute):
        key = f"artifacts.recompute[{i}]"
        if cell.model not in models:
            raise ConfigError(f"{key}.model: {cell.model!r} is not a key of models")
        if cell.init not in inits:
            raise ConfigError(f"{key}.init: {cell.init!r} is not one of inits {inits}")
        layers = list(models[cell.model]["layers"])
        if cell.layer not in layers:
            raise ConfigError(
                f"{key}.layer: {cell.layer} is not a layer of models.{cell.model} ({layers})"
            )
    return publish, artifacts


def run_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config less :data:`NON_RUN_SECTIONS`: what the run computed from."""
    return {k: v for k, v in config.items() if k not in NON_RUN_SECTIONS}


def config_sha256(config: Mapping[str, Any]) -> str:
    """sha256 of :func:`run_config` (the digest report captions and the model card show)."""
    data = json.dumps(run_config(config), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()
