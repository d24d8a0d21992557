"""The reviewer path's downloads: published files into the run's own paths, each checked.

The revision is resolved to one commit first, so every file comes from the same commit even if
the branch moves meanwhile. The published ``manifest.tsv`` of that commit lists every file's
sha256: a file that is not listed, or whose bytes hash to anything else, stops the run with a
:class:`~randsae.publish.runcheck.PublishError` naming it. Files reach the Hugging Face cache
(``HF_HOME``) first and are copied into place atomically.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from randsae.hub import hub_call
from randsae.io import atomic_path, sha256_file
from randsae.publish import layout
from randsae.publish.runcheck import PublishError
from randsae.publish.settings import run_config
from randsae.sections import cells
from randsae.sections.publish import parse_source
from randsae.tables.manifest import read_manifest

log = logging.getLogger("randsae")

WORKERS = 8


class Publication:
    """One published run: its repo, the commit its revision names and its manifest rows."""

    def __init__(self, source: str):
        from huggingface_hub import HfApi, hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        self.repo, self.revision = parse_source(source)
        self._download, self._missing = hf_hub_download, EntryNotFoundError
        try:
            self.commit = HfApi().model_info(self.repo, revision=self.revision).sha
        except RevisionNotFoundError as err:
            raise PublishError(
                f"artifacts.from: {self.repo} has no revision {self.revision!r}"
            ) from err
        except RepositoryNotFoundError as err:
            raise PublishError(
                f"artifacts.from: {self.repo} is not on the Hub, or it is private and HF_TOKEN "
                "cannot read it; set artifacts.from to the repo the run was published to"
            ) from err
        log.info("published run %s@%s = commit %s", self.repo, self.revision, self.commit)
        try:
            manifest = self._download(self.repo, layout.MANIFEST, revision=self.commit)
        except EntryNotFoundError as err:
            raise PublishError(
                f"artifacts.from: {self.repo}@{self.revision} has no {layout.MANIFEST}: it is not "
                "a published randsae run, or its publishing was interrupted (publish it again)"
            ) from err
        self.rows = {r["path"]: r for r in read_manifest(manifest)}

    def where(self) -> str:
        return f"{self.repo}@{self.revision} (commit {self.commit[:12]})"

    def fetch(self, path: str, dest: str | Path | None = None) -> Path:
        """Download the published ``path`` (a run path), check its sha256, copy it to ``dest``
        (default: ``path``)."""
        row = self.rows.get(path)
        if row is None:
            raise PublishError(f"{path}: not in the published manifest of {self.where()}")
        try:
            local = self._download(self.repo, layout.repo_path(path), revision=self.commit)
        except self._missing as err:
            raise PublishError(
                f"{path}: in the published manifest but not in {self.where()} "
                f"({layout.repo_path(path)}): the publication is incomplete"
            ) from err
        digest = sha256_file(local)
        if digest != row["sha256"]:
            raise PublishError(
                f"{path}: the published file ({layout.repo_path(path)} in {self.where()}) has "
                f"sha256 {digest}, the published manifest says {row['sha256']}: the file was "
                "changed after the run wrote its manifest. Do not use this publication; tell "
                "its publisher."
            )
        dest = Path(dest or path)
        with atomic_path(dest) as tmp:
            shutil.copyfile(local, tmp)
        return dest

    def fetch_all(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        missing = [p for p in paths if p not in self.rows]
        if missing:
            raise PublishError(
                f"{len(missing)} files this config needs are not in the published manifest of "
                f"{self.where()} (first: {missing[0]}): the config's grid is not the published "
                f"run's; start from the run's own {layout.CONFIG} (in the repo) and add "
                "artifacts.from to it"
            )
        with ThreadPoolExecutor(WORKERS) as pool:
            for done, _ in enumerate(pool.map(self.fetch, paths), 1):
                if done % 200 == 0:
                    log.info("downloaded %d of %d files", done, len(paths))
        log.info("downloaded and checked %d files from %s", len(paths), self.where())

    def config(self) -> dict[str, Any] | None:
        """The published run's merged config (checked like every file), if it has one."""
        if layout.CONFIG not in self.rows:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            path = self.fetch(layout.CONFIG, Path(tmp) / layout.CONFIG)
            return yaml.safe_load(path.read_text())


def differing_keys(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configs (recursing into mappings)."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out += differing_keys(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}")
    return out


def compare_configs(published: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Stop when this config's grid has cells the published run lacks; warn about other keys
    that differ (the regenerated tables may then differ from the published ones)."""
    extra = sorted(set(cells(dict(config))) - set(cells(dict(published))))
    if extra:
        raise PublishError(
            f"{len(extra)} cells of this config are not in the published run (first: "
            f"{extra[0]}); start from the run's own {layout.CONFIG} and add artifacts.from to it"
        )
    diff = differing_keys(run_config(published), run_config(config))
    if diff:
        log.warning(
            "the published run's config differs at %s: regenerated tables may differ from the "
            "published ones",
            ", ".join(diff[:20]),
        )


def fetch_published(source: str, paths: Iterable[str], config: Mapping[str, Any] | None) -> str:
    """Download ``paths`` of the run published at ``source`` (``hub:<repo>[@<rev>]``) into
    place, each checked against the published manifest; returns the commit read. With
    ``config``, first compare it with the published run's config."""
    with hub_call(f"download the published run {source}"):
        pub = Publication(source)
        if config is not None:
            published = pub.config()
            if published is not None:
                compare_configs(published, config)
        pub.fetch_all(paths)
    return pub.commit
