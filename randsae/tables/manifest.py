"""`results/manifest.tsv`: one row per final artifact, for reviewers checking what they received.

Each row holds the artifact's sha256 and size, the rule and wildcards that produced it, a hash of
the params that rule ran with, the SLURM job id (if it ran on SLURM), the git commit and the
package versions. Rule, params and job id come from Snakemake's own metadata records
(`.snakemake/metadata/<urlsafe-base64 of the output path>`, JSON with `rule`, `params`,
`external_jobid`, ...); wildcards are recovered by matching the path against the producing rule's
output patterns; the git commit comes from the artifact's `meta.json` provenance record when one
exists (randsae.provenance), else from the checkout writing the manifest.

Everything here is a pure function of its arguments (files are read, never written, except by
`write_manifest`).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from randsae.io import atomic_path, sha256_file

COLUMNS = (
    "path",
    "size_bytes",
    "sha256",
    "rule",
    "wildcards",
    "params_sha256",
    "slurm_job",
    "git_commit",
    "git_from",
    "packages",
)


#: Snakemake persistence backends the manifest reads: the file backend's `.snakemake/metadata`
#: records (Snakemake has no public interface that gives a job's params and external job id; its
#: `--detailed-summary` lists neither).
SUPPORTED_PERSISTENCE = ("file",)


def persistence_error(backend: str) -> str | None:
    """Why the manifest cannot be written under Snakemake's ``--persistence-backend backend``
    (None for the file backend, the default)."""
    if backend in SUPPORTED_PERSISTENCE:
        return None
    return (
        f"results/manifest.tsv cannot be built with --persistence-backend {backend}: the "
        "manifest reads each artifact's rule, params and job id from the file backend's "
        ".snakemake/metadata records, which that backend does not write. Run with the default "
        "backend (--persistence-backend file), or ask for targets other than the manifest."
    )


def decode_record_name(relative: str | Path) -> str:
    """Output path of a metadata record, from its path relative to `.snakemake/metadata`.

    Snakemake stores `urlsafe_b64encode(path)`, split into directories of at most NAME_MAX - 1
    characters, every directory part prefixed with '@'.
    """
    parts = Path(relative).parts
    encoded = "".join(p[1:] if p.startswith("@") else p for p in parts)
    return base64.urlsafe_b64decode(encoded.encode()).decode()


def read_snakemake_metadata(meta_dir: str | Path) -> dict[str, dict[str, Any]]:
    """{output path: Snakemake's metadata record} for every record under `meta_dir`."""
    meta_dir = Path(meta_dir)
    records: dict[str, dict[str, Any]] = {}
    if not meta_dir.is_dir():
        return records
    for root, _dirs, files in os.walk(meta_dir):
        for name in files:
            file = Path(root) / name
            try:
                path = decode_record_name(file.relative_to(meta_dir))
                records[os.path.normpath(path)] = json.loads(file.read_text())
            except (ValueError, UnicodeDecodeError, json.JSONDecodeError):
                continue  # not a record (e.g. a stray temp file)
    return records


def slurm_job_ids(slurm_logs: str | Path) -> dict[tuple[str, str], str]:
    """{(rule, wildcard values joined by '_'): SLURM job id} from the SLURM executor plugin's
    per-job logs `.snakemake/slurm_logs/rule_<rule>/[<values>/]<jobid>.log` (kept with
    `slurm-keep-successful-logs`); with several attempts, the last (highest) job id wins.
    Snakemake's metadata leaves `external_jobid` empty for SLURM jobs (plugin 2.8.0)."""
    out: dict[tuple[str, str], str] = {}
    root = Path(slurm_logs)
    if not root.is_dir():
        return out
    for log in root.glob("rule_*/**/*.log"):
        if not log.stem.isdigit():
            continue
        parts = log.relative_to(root).parts
        key = (parts[0].removeprefix("rule_"), "/".join(parts[1:-1]))
        if key not in out or int(log.stem) > int(out[key]):
            out[key] = log.stem
    return out


def params_sha256(record: Mapping[str, Any] | None) -> str:
    """sha256 of the params Snakemake recorded for a job (what its params rerun trigger compares)."""
    if not record or record.get("params") is None:
        return ""
    return hashlib.sha256(json.dumps(record["params"], sort_keys=True).encode()).hexdigest()


_WILDCARD = re.compile(r"\{\s*(\w+)\s*(?:,\s*((?:[^{}]+|\{\d+(?:,\d*)?\})*))?\s*\}")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Regex of a Snakemake output pattern: `{name}` matches one path segment or less, and
    `{name,regex}` its own constraint; a repeated wildcard must repeat its value."""
    out, seen, pos = [], set(), 0
    for m in _WILDCARD.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        name, constraint = m.group(1), m.group(2)
        if name in seen:
            out.append(f"(?P={name})")
        else:
            out.append(f"(?P<{name}>{constraint or '[^/]+'})")
            seen.add(name)
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out))


def match_wildcards(path: str, patterns: Iterable[str]) -> dict[str, str] | None:
    """Wildcards of the first pattern that matches `path` entirely, else None."""
    path = os.path.normpath(path)
    for pattern in patterns:
        m = pattern_regex(os.path.normpath(pattern)).fullmatch(path)
        if m:
            return m.groupdict()
    return None


def format_wildcards(wildcards: Mapping[str, str] | None) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted((wildcards or {}).items()))


def format_packages(packages: Mapping[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(packages.items()))


def provenance_git(path: str | Path) -> str | None:
    """Git commit recorded by randsae.provenance for `path` (its `<path>.meta.json`, or the
    `meta.json` of its directory), else None."""
    path = Path(path)
    for cand in (path.with_name(path.name + ".meta.json"), path.parent / "meta.json"):
        if cand.is_file() and cand != path:
            try:
                git = json.loads(cand.read_text()).get("git")
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                continue
            if git:
                return str(git)
    return None


def manifest_rows(
    paths: Iterable[str],
    metadata: Mapping[str, Mapping[str, Any]],
    patterns: Mapping[str, list[str]],
    git: str,
    packages: Mapping[str, str],
    root: str | Path = ".",
    slurm_jobs: Mapping[tuple[str, str], str] | None = None,
) -> list[dict[str, Any]]:
    """One row per artifact (sorted by path). `patterns`: output patterns of each rule;
    `git`/`packages`: of the checkout writing the manifest; paths are relative to `root`;
    `slurm_jobs`: from `slurm_job_ids` (wildcard values in pattern order, joined by '_')."""
    rows = []
    for rel in sorted({os.path.normpath(p) for p in paths}):
        file = Path(root) / rel
        if not file.is_file():
            raise FileNotFoundError(f"manifest: artifact {rel} missing")
        record = metadata.get(rel)
        rule = str(record.get("rule", "")) if record else ""
        wildcards = match_wildcards(rel, patterns.get(rule, [])) if rule else None
        artifact_git = provenance_git(file)
        rows.append(
            {
                "path": rel,
                "size_bytes": file.stat().st_size,
                "sha256": sha256_file(file),
                "rule": rule or "unknown",
                "wildcards": format_wildcards(wildcards),
                "params_sha256": params_sha256(record),
                "slurm_job": (str(record.get("external_jobid") or "") if record else "")
                or (slurm_jobs or {}).get((rule, "_".join((wildcards or {}).values())), ""),
                "git_commit": artifact_git or git,
                "git_from": "artifact" if artifact_git else "manifest",
                "packages": format_packages(packages),
            }
        )
    return rows


def write_manifest(rows: list[dict[str, Any]], out: str | Path) -> None:
    """Tab-separated, header first, atomically replaced."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def verify_manifest(path: str | Path, root: str | Path = ".") -> list[str]:
    """Artifacts whose size or sha256 no longer match the manifest (empty list: all match)."""
    bad = []
    for row in read_manifest(path):
        file = Path(root) / row["path"]
        if not file.is_file():
            bad.append(f"{row['path']}: missing")
        elif file.stat().st_size != int(row["size_bytes"]) or sha256_file(file) != row["sha256"]:
            bad.append(f"{row['path']}: changed")
    return bad


# ------------------------------------------------------------------ report captions (rules)


def config_source(config: Mapping[str, Any], configfiles: Iterable[str] | None) -> dict[str, Any]:
    """Which config produced a result: the --configfile names (config.yaml when none) and the
    sha256 of the merged config. Report captions show both."""
    files = [os.path.basename(str(f)) for f in configfiles or []] or ["config.yaml"]
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    return {"files": files, "sha256": digest}
