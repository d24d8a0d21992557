"""Where each file of a run lives in its Hub repository.

- ``{model}/{init}/layer{L}/cfg.json`` and ``sae_weights.safetensors``: every SAE in sae-lens's
  pretrained layout (one folder per SAE id, written by ``sae_lens.upload_saes_to_huggingface``),
  so ``SAE.from_pretrained("<repo>", "{model}/{init}/layer{L}")`` loads it;
- ``results/...``: every other artifact of the run's manifest at its path in the run;
- ``config.yaml``: the merged config of the run; ``manifest.tsv``: the run's
  ``results/manifest.tsv`` plus a row for ``config.yaml`` (every published file's sha256);
  ``README.md``: the model card.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SAE_PATH = re.compile(
    r"results/saes/(?P<model>[^/]+)/(?P<init>[^/]+)/layer(?P<layer>\d+)/(?P<file>[^/]+)"
)
CONFIG = "config.yaml"
MANIFEST = "manifest.tsv"
CARD = "README.md"


def sae_id(model: str, init: str, layer: int | str) -> str:
    """The SAE id of a cell (its folder in the repo)."""
    return f"{model}/{init}/layer{layer}"


def repo_path(run_path: str) -> str:
    """The path of a run file (relative to the run's working directory) in the repo."""
    m = SAE_PATH.fullmatch(run_path)
    if m:
        return f"{sae_id(m['model'], m['init'], m['layer'])}/{m['file']}"
    return run_path


def sae_dirs(paths: Iterable[str]) -> dict[str, str]:
    """{SAE id: run directory} of the SAE files among ``paths``."""
    out = {}
    for p in paths:
        m = SAE_PATH.fullmatch(p)
        if m:
            out[sae_id(m["model"], m["init"], m["layer"])] = p.rsplit("/", 1)[0]
    return dict(sorted(out.items()))
