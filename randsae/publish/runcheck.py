"""Is a finished run fit to publish? Checks on the files alone, before any upload.

A run is *complete* when ``results/manifest.tsv`` exists, lists every artifact the config
expects and no job left incomplete outputs behind (``.snakemake/incomplete``); it is *clean* when
every listed file still has its recorded size and sha256 and its code checkout had no
uncommitted changes (the manifest's ``git_commit`` has no ``-dirty`` suffix, unless
``publish.allow_dirty_code``). Each failure is a :class:`PublishError` saying what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from randsae.hub import ExplainedError
from randsae.io import sha256_file
from randsae.progress import progress
from randsae.tables.manifest import decode_record_name, read_manifest

log = logging.getLogger("randsae")

RUN_HINT = "finish the run first: snakemake --cores all --configfile <the run's config>"


class PublishError(ExplainedError):
    """Publishing (or downloading a publication) cannot go on; the message says why and how."""


def _first(items: list[str], n: int = 5) -> str:
    more = f" (and {len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def incomplete_outputs(snakemake_dir: str | Path = ".snakemake") -> list[str]:
    """Outputs Snakemake marked incomplete (a job running, killed or failed)."""
    root = Path(snakemake_dir) / "incomplete"
    out = []
    if root.is_dir():
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                try:
                    out.append(decode_record_name((Path(dirpath) / name).relative_to(root)))
                except (ValueError, UnicodeDecodeError):
                    continue
    return sorted(out)


def check_run(
    manifest_tsv: str | Path,
    expected: Iterable[str],
    *,
    allow_dirty_code: bool = False,
    snakemake_dir: str | Path = ".snakemake",
) -> list[dict[str, str]]:
    """The manifest rows of a complete, clean run (see the module doc), else PublishError."""
    manifest_tsv = Path(manifest_tsv)
    if not manifest_tsv.is_file():
        raise PublishError(f"incomplete run: {manifest_tsv} is missing; {RUN_HINT}")
    left = incomplete_outputs(snakemake_dir)
    if left:
        raise PublishError(
            f"incomplete run: Snakemake marks {len(left)} outputs incomplete ({_first(left)}): "
            f"a job is running or was interrupted; {RUN_HINT}"
        )
    rows = read_manifest(manifest_tsv)
    listed = {r["path"] for r in rows}
    missing = sorted(set(expected) - listed)
    if missing:
        raise PublishError(
            f"incomplete run: {len(missing)} artifacts of this config are not in "
            f"{manifest_tsv} ({_first(missing)}); {RUN_HINT}"
        )
    changed = []
    for row in progress(rows, total=len(rows), desc="checking sha256", unit="file"):
        file = Path(row["path"])
        if not file.is_file():
            changed.append(f"{row['path']} (missing)")
        elif file.stat().st_size != int(row["size_bytes"]) or sha256_file(file) != row["sha256"]:
            changed.append(f"{row['path']} (changed)")
    if changed:
        raise PublishError(
            f"dirty run: {len(changed)} files differ from {manifest_tsv} ({_first(changed)}); "
            "run snakemake again with the run's config (it rebuilds what changed and the "
            "manifest), then publish"
        )
    dirty = sorted({r["git_commit"] for r in rows if r["git_commit"].endswith("-dirty")})
    if dirty and not allow_dirty_code:
        raise PublishError(
            f"dirty run: its code had uncommitted changes (git_commit {_first(dirty)}); commit "
            "them and rerun, or set publish.allow_dirty_code: true to publish it as it is"
        )
    log.info("run complete and clean: %d artifacts match %s", len(rows), manifest_tsv)
    return rows
