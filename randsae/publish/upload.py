"""``snakemake publish``: upload a finished run to its Hub repo, sending only what changed.

Order: every SAE whose files changed, through ``sae_lens.upload_saes_to_huggingface`` (one commit
per SAE, sae-lens's pretrained layout); then the other artifacts of the manifest in commits of at
most :data:`FILES_PER_COMMIT`; last ``config.yaml``, ``manifest.tsv`` and the model card. A file
is unchanged, and not sent, when the repo already holds the same content at its path: for files
the Hub keeps in LFS it reports their sha256 (compared with the manifest's), for the others their
git blob id (computed here from the bytes). So a second publish of the same run sends nothing,
and a publish killed half-way resumes where it stopped: the repo itself is the record of what
arrived. The manifest goes last, so a repo whose manifest is older than its files is one whose
publishing was interrupted (the reviewer path then names the first file that does not match).

The token is read from ``HF_TOKEN`` only, passed to the client in memory and written nowhere.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from randsae.hub import hub_call
from randsae.publish import layout
from randsae.publish.card import model_card
from randsae.publish.runcheck import PublishError, check_run
from randsae.publish.settings import config_sha256
from randsae.sections import PublishConfig, RunConfig

log = logging.getLogger("randsae")

FILES_PER_COMMIT = 200


def git_blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub reports for a file it keeps outside LFS)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def remote_files(api: Any, repo: str, revision: str) -> dict[str, tuple[str | None, str]]:
    """{path: (sha256 if the Hub keeps it in LFS else None, git blob id)} at ``revision``."""
    out = {}
    for item in api.list_repo_tree(repo, revision=revision, recursive=True):
        if hasattr(item, "blob_id"):
            lfs = getattr(item, "lfs", None)
            out[item.path] = (lfs.sha256 if lfs is not None else None, item.blob_id)
    return out


def unchanged(
    remote: Mapping[str, tuple[str | None, str]], path: str, sha256: str, data: bytes | None
) -> bool:
    """Whether the repo holds this content at ``path`` (``data``: the bytes, read when needed)."""
    if path not in remote:
        return False
    lfs_sha, blob = remote[path]
    if lfs_sha is not None:
        return lfs_sha == sha256
    return data is not None and git_blob_id(data) == blob


def config_yaml(config: Mapping[str, Any]) -> bytes:
    """The merged config as published (``config.yaml``; keys sorted, stable bytes)."""
    return yaml.safe_dump(dict(config), sort_keys=True, default_flow_style=False).encode()


def published_manifest(manifest_tsv: str | Path, config_bytes: bytes) -> bytes:
    """The run's manifest plus one row for ``config.yaml`` (the published ``manifest.tsv``)."""
    text = Path(manifest_tsv).read_text()
    header = text.splitlines()[0].split("\t")
    row = dict.fromkeys(header, "")
    row |= {
        "path": layout.CONFIG,
        "size_bytes": str(len(config_bytes)),
        "sha256": hashlib.sha256(config_bytes).hexdigest(),
        "rule": "publish",
    }
    return (text.rstrip("\n") + "\n" + "\t".join(row[c] for c in header) + "\n").encode()


def _read_small(path: Path, limit: int = 10 * 2**20) -> bytes | None:
    """The bytes of a file small enough to be a regular (non-LFS) Hub file, else None."""
    return path.read_bytes() if path.stat().st_size <= limit else None


def ensure_repo(api: Any, settings: PublishConfig) -> None:
    """The repo and branch exist afterwards (created when allowed), else PublishError."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        api.repo_info(settings.repo)
    except RepositoryNotFoundError as err:
        if not settings.create:
            raise PublishError(
                f"publish.repo: {settings.repo} does not exist on the Hub (or the HF_TOKEN "
                "cannot see it): create it (https://huggingface.co/new), or set "
                "publish.create: true to create it"
            ) from err
        api.create_repo(settings.repo, private=settings.private, exist_ok=True)
        log.info("created repo %s (private=%s)", settings.repo, settings.private)
    branches = {b.name for b in api.list_repo_refs(settings.repo).branches}
    if settings.revision not in branches:
        api.create_branch(settings.repo, branch=settings.revision, exist_ok=True)
        log.info("created branch %s of %s", settings.revision, settings.repo)


def _commit(api: Any, settings: PublishConfig, ops: list, message: str) -> None:
    info = api.create_commit(settings.repo, ops, commit_message=message, revision=settings.revision)
    log.info("%s: %d files (commit %s)", message, len(ops), info.oid)


def _chunks(items: list, n: int) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def publish_run(
    run: RunConfig,
    manifest_tsv: str | Path,
    expected: Iterable[str],
    snakemake_dir: str | Path = ".snakemake",
) -> dict[str, Any]:
    """Check the run, then upload what the repo lacks (see the module doc); returns a summary."""
    settings, source, config = run.publish, run.artifacts.source, run.document()
    if source:
        raise PublishError(
            f"artifacts.from is set ({source}): this run rebuilt another run's published results "
            "and holds none of its own SAEs; publish the run that trained them (without "
            "artifacts.from)"
        )
    if settings.repo is None:
        raise PublishError(
            "publish.repo is not set: name the Hub model repo (namespace/name) to publish to in "
            "the config's publish section"
        )
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise PublishError(
            f"HF_TOKEN is not set: export a Hub token with write access to {settings.repo} "
            "(https://huggingface.co/settings/tokens); it is read from the environment only"
        )
    rows = check_run(
        manifest_tsv,
        expected,
        allow_dirty_code=settings.allow_dirty_code,
        snakemake_dir=snakemake_dir,
    )
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # the log gets one line per commit instead
    api = HfApi(token=token)
    repo, rev = settings.repo, settings.revision
    with hub_call(f"publish to {repo}@{rev}"):
        ensure_repo(api, settings)
        remote = remote_files(api, repo, rev)
        todo = [
            r
            for r in rows
            if not unchanged(
                remote, layout.repo_path(r["path"]), r["sha256"], _read_small(Path(r["path"]))
            )
        ]
        saes = layout.sae_dirs(r["path"] for r in todo)
        others = [r for r in todo if layout.SAE_PATH.fullmatch(r["path"]) is None]
        log.info(
            "%s@%s: %d of %d files to send (%d SAEs, %d other files)",
            repo,
            rev,
            len(todo),
            len(rows),
            len(saes),
            len(others),
        )
        if saes:
            from sae_lens import upload_saes_to_huggingface

            upload_saes_to_huggingface(
                {sid: Path(d) for sid, d in saes.items()},
                hf_repo_id=repo,
                hf_revision=rev,
                show_progress=False,
                add_default_readme=False,
            )
        batches = list(_chunks(others, FILES_PER_COMMIT))
        for i, batch in enumerate(batches, 1):
            ops = [CommitOperationAdd(layout.repo_path(r["path"]), r["path"]) for r in batch]
            _commit(api, settings, ops, f"Upload run results ({i}/{len(batches)})")
        cfg = config_yaml(config)
        finals = {
            layout.CONFIG: cfg,
            layout.MANIFEST: published_manifest(manifest_tsv, cfg),
            layout.CARD: model_card(config, rows, Path("results/tables/claims.csv")).encode(),
        }
        ops = [
            CommitOperationAdd(path, data)
            for path, data in finals.items()
            if not unchanged(remote, path, hashlib.sha256(data).hexdigest(), data)
        ]
        if ops:
            _commit(api, settings, ops, "Upload config, manifest and model card")
        head = api.repo_info(repo, revision=rev).sha
    summary = {
        "repo": repo,
        "revision": rev,
        "commit": head,
        "files": len(rows) + len(finals),
        "sent": len(todo) + len(ops),
        "saes_sent": len(saes),
        "config_sha256": config_sha256(config),
    }
    log.info("published: %s", summary)
    return summary
