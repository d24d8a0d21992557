"""Sections of where results go and come from: ``publish`` (``snakemake publish`` uploads the
run to the Hub) and ``artifacts`` (the reviewer path: downloads of a published run instead of
training and evaluation). Neither changes what a run computes (randsae.publish.settings)."""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated

from randsae.errors import ConfigError
from randsae.sections.base import NON_NEGATIVE, Section, aliased, section

#: A Hub repo id: ``namespace/name`` (letters, digits, ``-``, ``_``, ``.``; at most 96 each).
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}")
#: ``artifacts.from``: ``hub:<namespace>/<name>`` with an optional ``@<revision>``.
SOURCE = re.compile(r"hub:(?P<repo>[^@\s]+)(?:@(?P<revision>[^\s]+))?")


def repo_error(repo: str) -> str | None:
    if not REPO_ID.fullmatch(repo) or ".." in repo or repo.endswith((".git", ".")):
        return f"{repo!r} is not a Hub repo id of the form 'namespace/name'"
    return None


def parse_source(source: str) -> tuple[str, str]:
    """``(repo, revision)`` of an ``artifacts.from`` value (revision ``main`` when not given);
    a ConfigError naming ``artifacts.from`` when it is not ``hub:<namespace>/<name>[@<rev>]``."""
    m = SOURCE.fullmatch(source)
    err = repo_error(m.group("repo")) if m else None
    if not m or err:
        raise ConfigError(
            f"artifacts.from: {err or f'{source!r} must read hub:<namespace>/<name>[@<revision>]'}"
        )
    return m.group("repo"), m.group("revision") or "main"


@section("publish")
class PublishConfig(Section):
    """``publish``: where ``snakemake publish`` uploads the run."""

    repo: str | None
    """Hub model repo id (namespace/name) to publish to; null = publishing off (snakemake publish stops and says so)"""
    revision: str
    """branch the files are committed to; created from main when missing (SAE.from_pretrained reads main)"""
    create: bool
    """create the repo when it does not exist; false = stop with a message naming the repo"""
    private: bool
    """visibility of a repo that publish creates (a reviewer then needs read access)"""
    allow_dirty_code: bool
    """publish a run whose workflow checkout had uncommitted changes (the manifest's git_commit ends in -dirty); false = refuse"""

    def __post_init__(self) -> None:
        super().__post_init__()
        err = repo_error(self.repo) if self.repo is not None else None
        if err:
            raise self.error("repo", err)
        if not self.revision or re.search(r"\s|\.\.|[~^:?*\[\\]", self.revision):
            raise self.error("revision", f"{self.revision!r} is not a usable branch name")


@section("artifacts.recompute[]")
class RecomputeCell(Section):
    """One ``artifacts.recompute`` entry: a cell of the grid to re-evaluate."""

    model: str
    """a key of models"""
    init: str
    """one of inits"""
    layer: Annotated[int, NON_NEGATIVE]
    """one of the model's layers"""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.init, self.layer)


@section("artifacts")
class ArtifactsConfig(Section):
    """``artifacts``: the reviewer path (downloads of a published run instead of training)."""

    source: str | None = aliased("from")
    """hub:<namespace>/<name>[@<revision>] of a run published by snakemake publish (revision default main); null = compute everything"""
    recompute: tuple[RecomputeCell, ...]
    """spot check: cells re-evaluated from the downloaded SAEs (needs the model; a GPU helps at paper scale) and compared with the published metrics -> results/tables/recompute.csv"""
    rtol: Annotated[float, NON_NEGATIVE]
    """spot check: relative tolerance (agree when |recomputed - published| <= atol + rtol * |published|)"""
    atol: Annotated[float, NON_NEGATIVE]
    """spot check: absolute tolerance"""
    repo: str | None = dataclasses.field(init=False, default=None)
    """The repo id of ``from`` (derived)."""
    revision: str = dataclasses.field(init=False, default="main")
    """The revision of ``from`` (derived; ``main`` when not given)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source is not None:
            repo, revision = parse_source(self.source)
            object.__setattr__(self, "repo", repo)
            object.__setattr__(self, "revision", revision)
        if self.recompute and self.source is None:
            raise self.error("recompute", "needs artifacts.from (the run to check)")
        keys = [c.key for c in self.recompute]
        if len(set(keys)) != len(keys):
            raise self.error("recompute", "a cell is listed twice")

    @property
    def reviewer(self) -> bool:
        """True when the run downloads published artifacts instead of computing them."""
        return self.source is not None
