"""Captions of the figures in ``snakemake --report`` (the figure rules' ``report()`` arguments)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

FIGURE_SUBCATEGORY = {
    "sae": "SAE quality",
    "autointerp": "Auto-interpretability",
    "abstractness": "Abstractness",
    "init": "Init sweep",
}


def figure_report_args(path: str, caption_dir: str | Path) -> dict[str, Any]:
    """Keyword arguments of Snakemake's `report()` for one figure file (pdf/png/csv): the caption
    `<caption_dir>/figures/<figure name>.rst` (`generic.rst` when there is none), category,
    subcategory by figure family, and labels naming the figure and file type."""
    name, ext = os.path.splitext(os.path.basename(path))
    caption = name if (Path(caption_dir) / "figures" / f"{name}.rst").is_file() else "generic"
    return {
        "caption": str(Path(caption_dir) / "figures" / f"{caption}.rst"),
        "category": "Figures",
        "subcategory": FIGURE_SUBCATEGORY.get(name.split("_")[0], "Other"),
        "labels": {"figure": name, "file": ext.lstrip(".")},
    }
