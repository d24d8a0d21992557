"""The one labels-and-colours table of every figure, in the paper's colours (v2 captions).

trained = gray, noise control = black, Step-0 = green, the two re-randomized variants = blue
(embeddings kept) and orange (embeddings re-randomized too); chance = dotted. Every metric has
one label here, whichever figure draws it. Imports nothing heavy, so the toy figures and the LM
figures share it.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class InitLook(NamedTuple):
    """How an init is drawn: legend label, compact label (crowded legends), colour, marker,
    line style."""

    label: str
    short: str
    color: str
    marker: str
    linestyle: str


#: Every known init in the paper's order (the legend order of every figure).
INITS: dict[str, InitLook] = {
    "trained": InitLook("trained", "trained", "tab:gray", "o", "-"),
    "rerandomized": InitLook("re-randomized (excl. embeddings)", "re-rand.", "tab:blue", "^", "-"),
    "rerandomized_embeddings": InitLook(
        "re-randomized (incl. embeddings)", "re-rand. + emb.", "tab:orange", "v", "-"
    ),
    "step0": InitLook("Step-0", "Step-0", "tab:green", "s", "-"),
    "noise_control": InitLook("control (noise inputs)", "control", "black", "x", "--"),
}
INIT_ORDER = tuple(INITS)

#: Axis label of every metric a figure draws (SAE quality, auto-interp, abstractness).
METRIC_LABELS = {
    "explained_variance": "explained variance",
    "explained_variance_legacy": "explained variance (legacy, per token)",
    "fvu": "FVU",
    "cossim": "cosine similarity",
    "l1": "L1 of latents",
    "ce_loss_score": "CE loss score",
    "ce_loss_increase": "CE loss increase (nats)",
    "kl_div_score": "KL divergence score",
    "l0": "L0",
    "frac_dead": "dead latent fraction",
    "fuzzing_auroc": "fuzzing AUROC",
    "detection_auroc": "detection AUROC",
    "token_entropy": "token entropy (nats)",
    "entropy_all": "token entropy, all activations (nats)",
    "entropy_weighted": "token entropy, activation-weighted (nats)",
    "entropy_topN": "token entropy, top-N activations (nats)",
    "token_r2": "token-identity R²",
}

CHANCE_STYLE: dict[str, Any] = {"color": "0.4", "linestyle": ":", "linewidth": 1.0}
"""Chance level (AUROC 0.5, the diagonal of a ROC plot)."""

FALLBACK_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:red")


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def base_init(init: str) -> str:
    """``rerandomized-x2-uniform`` -> ``rerandomized`` (init-sweep names share their base's colour)."""
    return init.split("-")[0]


def _look(init: str) -> InitLook | None:
    return INITS.get(init) or INITS.get(base_init(init))


def init_style(init: str) -> dict[str, Any]:
    """Line style of an init: colour, marker, line style (unknown names get a fallback colour)."""
    look = _look(init)
    if look is not None:
        return {"color": look.color, "marker": look.marker, "linestyle": look.linestyle}
    return {"color": FALLBACK_COLORS[sum(map(ord, init)) % len(FALLBACK_COLORS)], "marker": "."}


def init_color(init: str) -> str:
    return init_style(init)["color"]


def init_label(init: str, short: bool = False) -> str:
    look = INITS.get(init)
    if look is None:
        return init
    return look.short if short else look.label


def ordered_inits(inits: Any) -> list[str]:
    """Inits present in ``inits`` in the paper's order, unknown ones after, each once."""
    present = list(dict.fromkeys(inits))
    return [i for i in INIT_ORDER if i in present] + [i for i in present if i not in INIT_ORDER]
