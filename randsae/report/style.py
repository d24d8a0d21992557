"""One style table for every figure, in the paper's colours (v2 captions).

trained = gray, noise control = black, Step-0 = green, the two re-randomized variants = blue
(embeddings kept) and orange (embeddings re-randomized too); chance = dotted. Imports matplotlib
only, so the toy figures and the LM figures share it without heavy dependencies.
"""

from __future__ import annotations

from typing import Any

INIT_ORDER = ("trained", "rerandomized", "rerandomized_embeddings", "step0", "noise_control")

INIT_LABELS = {
    "trained": "trained",
    "rerandomized": "re-randomized (excl. embeddings)",
    "rerandomized_embeddings": "re-randomized (incl. embeddings)",
    "step0": "Step-0",
    "noise_control": "control (noise inputs)",
}

INIT_SHORT_LABELS = {
    "trained": "trained",
    "rerandomized": "re-rand.",
    "rerandomized_embeddings": "re-rand. + emb.",
    "step0": "Step-0",
    "noise_control": "control",
}
"""Compact names for crowded legends (ROC panels, scatter panels)."""

INIT_STYLE: dict[str, dict[str, Any]] = {
    "trained": {"color": "tab:gray", "marker": "o", "linestyle": "-"},
    "rerandomized": {"color": "tab:blue", "marker": "^", "linestyle": "-"},
    "rerandomized_embeddings": {"color": "tab:orange", "marker": "v", "linestyle": "-"},
    "step0": {"color": "tab:green", "marker": "s", "linestyle": "-"},
    "noise_control": {"color": "black", "marker": "x", "linestyle": "--"},
}

CHANCE_STYLE: dict[str, Any] = {"color": "0.4", "linestyle": ":", "linewidth": 1.0}
"""Chance level (AUROC 0.5, the diagonal of a ROC plot)."""

FALLBACK_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:red")


def base_init(init: str) -> str:
    """``rerandomized-x2-uniform`` -> ``rerandomized`` (init-sweep names share their base's colour)."""
    return init.split("-")[0]


def init_style(init: str) -> dict[str, Any]:
    """Line style of an init: colour, marker, line style (unknown names get a fallback colour)."""
    if init in INIT_STYLE:
        return dict(INIT_STYLE[init])
    if base_init(init) in INIT_STYLE:
        return dict(INIT_STYLE[base_init(init)])
    return {"color": FALLBACK_COLORS[sum(map(ord, init)) % len(FALLBACK_COLORS)], "marker": "."}


def init_color(init: str) -> str:
    return init_style(init)["color"]


def init_label(init: str, short: bool = False) -> str:
    return (INIT_SHORT_LABELS if short else INIT_LABELS).get(init, init)


def ordered_inits(inits: Any) -> list[str]:
    """Inits present in ``inits`` in the paper's order, unknown ones after, each once."""
    present = list(dict.fromkeys(inits))
    return [i for i in INIT_ORDER if i in present] + [i for i in present if i not in INIT_ORDER]
