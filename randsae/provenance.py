"""Provenance records (``*.meta.json``) written next to rule outputs.

They hold the rule name, wildcards, params (as data), git commit of the workflow, package
versions, device and a UTC timestamp. Secrets never appear: params never carry them and the
environment is not recorded.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from randsae.io import to_data, write_json

PACKAGES = ("torch", "transformer-lens", "sae-lens", "anthropic", "snakemake", "numpy", "randsae")
REPO = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """``git describe --always --dirty`` of the workflow checkout, or 'unknown'."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def meta_record(
    rule: str, wildcards: Any = None, params: Any = None, **extra: Any
) -> dict[str, Any]:
    import torch

    return {
        "rule": rule,
        "wildcards": to_data(dict(wildcards.items()) if wildcards is not None else {}),
        "params": to_data(params if params is not None else {}),
        "git": git_commit(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else platform.processor() or "cpu",
        "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **to_data(extra),
    }


def write_meta(
    path: str | Path, rule: str, wildcards: Any = None, params: Any = None, **extra: Any
) -> None:
    write_json(path, meta_record(rule, wildcards, params, **extra))
