"""A Neuronpedia-ready export: the run's latents as the payloads of Neuronpedia's upload API.

The format is the one the ``neuronpedia`` Python package (1.2.1, PyPI) documents and sends: its
``examples/upload_features.ipynb`` and ``requests/{model,source_set,feature}_request.py``. A
*model* (``POST api/model/new``: id, layers, displayName, url) holds *source sets*
(``POST api/source-set/new``: name, modelId, description, url), which hold one *source* per layer,
named ``<layer>-<set name>``; features are uploaded to a source in batches of at most 128
(``POST api/feature/upload-batch``: modelId, source, features[index, density, activations[tokens,
values, quantileMax, quantileMin, quantileFraction], explanations[text, methodName, modelName],
topLogits, bottomLogits]). Each file written here is one such request body, ready to send.

Mapping: every (model, init) is its own Neuronpedia model (a re-randomized network is not the
model its weights came from): ``<model id>`` for ``trained``, ``<model id>-<init>`` otherwise,
where the model id is the Hub name's last part (``pythia-70m-deduped``) or the config's model
name. One source set ``randsae-<init>`` per model; one feature per latent with examples: its
density (active positions / held-out tokens, from ``eval_sae``), its explainer and test windows
(token strings and activations, grouped by quantile of the latent's activating pool: quantileMax
/ quantileMin are the largest / smallest window maximum of the quantile among these windows,
quantileFraction = 1 / n_quantiles) and its explanation. Logits are not computed (null).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from randsae import io

if TYPE_CHECKING:
    from randsae.sections import AutointerpConfig, ModelSource

MAX_FEATURES_PER_BATCH = 128  # neuronpedia.requests.feature_request.MAX_FEATURES_PER_BATCH
FORMAT = (
    "request bodies of Neuronpedia's upload API as the neuronpedia package 1.2.1 sends them "
    "(model/new, source-set/new, feature/upload-batch)"
)


def slug(text: str) -> str:
    """Letters, digits and hyphens only (Neuronpedia's rule for set names)."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]+", "-", text)).strip("-").lower()


def np_model_id(model: str, hf_name: str | None, init: str) -> str:
    """The Neuronpedia model id: the Hub name's last part (or the config's model name), with
    the init after it unless it is the trained model."""
    base = slug(hf_name.split("/")[-1]) if hf_name else slug(model)
    return base if init == "trained" else f"{base}-{slug(init)}"


def set_name(init: str) -> str:
    return f"randsae-{slug(init)}"


def explainer_model(ai: AutointerpConfig) -> str | None:
    """The LLM that wrote the explanations (None for the offline lexical backend)."""
    judges = {"anthropic": ai.anthropic, "openai": ai.openai}
    return judges[ai.backend].model if ai.backend in judges else None


def feature_activations(record: Mapping[str, Any], n_quantiles: int) -> list[dict[str, Any]]:
    """The latent's explainer and test windows, one activation entry each, by quantile."""
    windows = [*record.get("explain", []), *record.get("test_activating", [])]
    peak: dict[int, list[float]] = {}
    for w in windows:
        peak.setdefault(w["quantile"], []).append(max(w["acts"]))
    out = []
    for w in sorted(windows, key=lambda w: (w["quantile"], -max(w["acts"]), w["window_id"])):
        q = peak[w["quantile"]]
        out.append(
            {
                "tokens": list(w["text"]),
                "values": [float(a) for a in w["acts"]],
                "quantileMax": max(q),
                "quantileMin": min(q),
                "quantileFraction": 1.0 / n_quantiles,
            }
        )
    return out


def cell_features(
    examples: Mapping[str, Any],
    explanations: Mapping[int, str],
    density: Mapping[int, float],
    n_quantiles: int,
    explainer: str | None,
) -> list[dict[str, Any]]:
    """Neuronpedia features of one cell (one per latent with examples)."""
    out = []
    for rec in examples["latents"]:
        lat = int(rec["latent"])
        text = explanations.get(lat)
        out.append(
            {
                "index": lat,
                "density": density.get(lat),
                "activations": feature_activations(rec, n_quantiles),
                "explanations": [{"text": text, "methodName": None, "modelName": explainer}]
                if text
                else [],
                "topLogits": None,
                "bottomLogits": None,
            }
        )
    return sorted(out, key=lambda f: f["index"])


def read_explanations(path: str | Path) -> dict[int, str]:
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                if str(row.get("explanation") or "").strip():
                    out[int(row["latent"])] = str(row["explanation"])
    return out


def read_density(latents_csv: str | Path, metrics_json: str | Path) -> dict[int, float]:
    """Active positions / held-out tokens per latent (``eval_sae``'s per-latent table)."""
    n_tokens = float(io.read_json(metrics_json)["n_tokens"])
    df = pd.read_csv(latents_csv)
    return {int(r.latent): float(r.n_active) / n_tokens for r in df.itertuples()}


def export(
    cells: Sequence[tuple[str, str, int]],
    inputs: Mapping[str, Sequence[str]],
    models: Mapping[str, ModelSource],
    explainer: str | None,
    n_quantiles: int,
    repo_url: str | None,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Write the export under ``out_dir`` (see the module doc); ``inputs``: per cell, in the
    order of ``cells``, ``examples``, ``explanations``, ``latents`` and ``metrics`` paths;
    ``explainer``: the model that wrote the explanations; ``n_quantiles``: the examples'."""
    out_dir = Path(out_dir)
    index: dict[str, Any] = {"format": FORMAT, "models": [], "source_sets": [], "batches": []}
    seen: set[str] = set()
    for i, (model, init, layer) in enumerate(cells):
        mid, name = np_model_id(model, models[model].hf_name, init), set_name(init)
        if mid not in seen:
            seen.add(mid)
            _write(
                out_dir / "models" / f"{mid}.json",
                index["models"],
                out_dir,
                {
                    "id": mid,
                    "layers": models[model].n_layers,
                    "displayName": f"{model} ({init})",
                    "url": repo_url,
                },
            )
            _write(
                out_dir / "source_sets" / f"{mid}__{name}.json",
                index["source_sets"],
                out_dir,
                {
                    "name": name,
                    "modelId": mid,
                    "description": f"randsae TopK SAEs, residual stream, {init} variant of {model}",
                    "url": repo_url,
                },
            )
        examples = io.read_json(inputs["examples"][i])
        features = cell_features(
            examples,
            read_explanations(inputs["explanations"][i]),
            read_density(inputs["latents"][i], inputs["metrics"][i]),
            n_quantiles,
            explainer,
        )
        source = f"{layer}-{name}"
        for b in range(0, max(len(features), 1), MAX_FEATURES_PER_BATCH):
            chunk = features[b : b + MAX_FEATURES_PER_BATCH]
            if not chunk:
                break
            path = out_dir / "features" / mid / source / f"batch-{b // MAX_FEATURES_PER_BATCH}.json"
            _write(
                path,
                index["batches"],
                out_dir,
                {"modelId": mid, "source": source, "features": chunk},
            )
    io.write_json(out_dir / "index.json", index)
    return index


def _write(path: Path, listing: list, root: Path, payload: dict[str, Any]) -> None:
    io.write_json(path, payload)
    listing.append(str(path.relative_to(root)))
