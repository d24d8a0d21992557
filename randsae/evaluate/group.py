"""One process per (model, init) for the evaluation stage.

The ``eval_group`` job builds a (model, init) once and evaluates every layer of it (metrics,
abstractness, latent examples: :func:`~randsae.evaluate.steps.eval_opened`) into a store beside
the results, ``results/eval_store/<model>/<init>/layer<L>/``; the per-layer ``eval_sae`` jobs
copy a layer's three files from there to the per-layer targets the later stages read.

Each store entry is keyed by a digest of everything its results depend on (:func:`layer_key`):
the settings, the layer, the bytes of the layer's SAE, of the init record, of the held-out tokens
and of the tokenizer, and the package's source. A group job therefore evaluates only the layers
whose key changed (a retrained SAE, a layer added to ``models.<name>.layers``) and reuses the
others, and the rules (rules/evaluate.smk) rerun only the per-layer copy jobs of changed layers:
the other layers' targets are neither recomputed nor rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from randsae import io
from randsae.sections import EvalConfig, ExamplesConfig, InitConfig, ModelSource

log = logging.getLogger("randsae")

#: The files of one store entry, in the order of the per-layer targets (metrics, latents,
#: examples), and the entry's key file (written last: an entry without it is incomplete).
ENTRY_FILES = ("metrics.json", "latents.csv", "examples.json")
KEY_FILE = "key"
#: SAE files that do not change what an evaluation reads (the training curve).
SAE_IGNORED = frozenset({"training_curve.csv"})


@dataclass(frozen=True)
class GroupSettings:
    """What the evaluation of every layer of one (model, init) shares."""

    model_cfg: ModelSource
    init_cfg: InitConfig
    init: str
    eval_cfg: EvalConfig
    examples_cfg: ExamplesConfig
    context_size: int
    seed: int
    tokens_val: str
    tokenizer_path: str
    device: str
    init_json: str | None = None

    @classmethod
    def from_params(
        cls, model: str, init: str, params: Any, tokens_val: str, init_json: str | None
    ) -> GroupSettings:
        """The settings from the params of rules ``eval_key`` and ``eval_group`` (the same
        slices: ``EVAL_PARAMS`` of rules/common.smk) and the cell's input files."""
        return cls(
            model_cfg=ModelSource.from_dict(params.model, name=model),
            init_cfg=InitConfig.from_dict(params.init),
            init=init,
            eval_cfg=EvalConfig.from_dict(params.eval),
            examples_cfg=ExamplesConfig.from_dict(params.examples),
            context_size=params.context_size,
            seed=params.seed,
            tokens_val=tokens_val,
            tokenizer_path=params.tokenizer,
            device=params.device,
            init_json=init_json,
        )

    def cell(self, layer: int, sae_dir: str) -> Any:
        """The evaluation cell of one layer (:class:`randsae.evaluate.cell.Cell`)."""
        from randsae.evaluate.cell import Cell

        return Cell(
            self.model_cfg, self.init_cfg, self.init, layer, sae_dir, self.tokens_val, self.device,
            self.init_json,
        )  # fmt: skip

    def document(self) -> dict[str, Any]:
        """The settings as plain data (part of every layer's key)."""
        return {
            "model": self.model_cfg.name,
            "model_cfg": self.model_cfg.to_dict(),
            "init_cfg": self.init_cfg.to_dict(),
            "init": self.init,
            "eval": self.eval_cfg.to_dict(),
            "examples": self.examples_cfg.to_dict(),
            "context_size": self.context_size,
            "seed": self.seed,
            "tokenizer": self.tokenizer_path,
            "device": self.device,
        }


def _tree_digest(path: str | Path, ignore: frozenset[str] = frozenset()) -> str:
    """sha256 over the names and bytes of a file, or of every file under a directory."""
    p = Path(path)
    if p.is_file():
        return io.sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file() and q.name not in ignore):
        h.update(f"{f.relative_to(p).as_posix()}\0{io.sha256_file(f)}\0".encode())
    return h.hexdigest()


def code_digest() -> str:
    """sha256 of the package's Python source: a code change never reuses a stored result."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f"{f.relative_to(root).as_posix()}\0".encode() + f.read_bytes())
    return h.hexdigest()


def layer_key(settings: GroupSettings, layer: int, sae_dir: str) -> str:
    """The digest a layer's stored results are kept under (module docstring)."""
    files = {
        "sae": _tree_digest(sae_dir, SAE_IGNORED),
        "tokens_val": io.sha256_file(settings.tokens_val),
        "init_json": io.sha256_file(settings.init_json) if settings.init_json else None,
        # a local tokenizer directory (embedded models); a Hub name is part of the settings
        "tokenizer": _tree_digest(settings.tokenizer_path)
        if Path(settings.tokenizer_path).exists()
        else None,
    }
    doc = {
        **settings.document(),
        "layer": layer,
        "files": files,
        "code": code_digest(),
    }
    return io.sha256_bytes(json.dumps(doc, sort_keys=True, default=str).encode())


def entry_dir(store_dir: str, layer: int) -> Path:
    return Path(store_dir) / f"layer{layer}"


def stored_key(store_dir: str, layer: int) -> str | None:
    """The key of a layer's complete store entry (None: no entry, or an incomplete one)."""
    path = entry_dir(store_dir, layer) / KEY_FILE
    return path.read_text().strip() if path.is_file() else None


def write_key(*, settings: GroupSettings, layer: int, sae_dir: str, out_key: str) -> None:
    """The ``eval_key`` job: the key (:func:`layer_key`) of one layer's evaluation, the file that
    the group and the per-layer job read (it changes only when that layer's inputs do)."""
    io.atomic_write_text(out_key, layer_key(settings, layer, sae_dir) + "\n")


def eval_group(
    *,
    settings: GroupSettings,
    layers: list[int],
    sae_dirs: list[str],
    key_files: list[str],
    store_dir: str,
    out_manifest: str,
) -> None:
    """The ``eval_group`` job: every layer of one (model, init) whose store entry is missing or
    holds another key than the layer's ``eval_key`` file, evaluated on the (model, init) built
    once; ``out_manifest`` lists each layer's key and whether this job computed it."""
    from randsae.evaluate.steps import eval_opened

    st = settings
    keys = {layer: Path(k).read_text().strip() for layer, k in zip(layers, key_files, strict=True)}
    todo = [
        (layer, d)
        for layer, d in zip(layers, sae_dirs, strict=True)
        if stored_key(store_dir, layer) != keys[layer]
    ]
    log.info("layers %s: %d to evaluate, %d stored", layers, len(todo), len(layers) - len(todo))
    base = None
    for layer, sae_dir in todo:
        cell = st.cell(layer, sae_dir)
        if base is None:  # the (model, init) is built once, for the first layer to evaluate
            base = cell.model("eval")
        entry = entry_dir(store_dir, layer)
        partial = entry.with_name(entry.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        eval_opened(
            cell, base, st.eval_cfg, st.examples_cfg, st.context_size, st.seed, st.tokenizer_path,
            *(str(partial / name) for name in ENTRY_FILES),
        )  # fmt: skip
        (partial / KEY_FILE).write_text(keys[layer] + "\n")
        shutil.rmtree(entry, ignore_errors=True)
        partial.rename(entry)
    computed = {layer for layer, _ in todo}
    io.write_json(
        out_manifest,
        {
            "model": st.model_cfg.name,
            "init": st.init,
            "layers": {
                str(layer): {"key": keys[layer], "computed": layer in computed} for layer in layers
            },
        },
    )


def serve_layer(
    *, layer: int, key_file: str, store_dir: str, out_files: list[str], group_manifest: str
) -> None:
    """The ``eval_sae`` job: one layer's metrics, per-latent table and examples, copied from the
    store entry its group job wrote for exactly this layer's key (its ``eval_key`` file)."""
    key = Path(key_file).read_text().strip()
    if stored_key(store_dir, layer) != key:
        raise RuntimeError(
            f"{entry_dir(store_dir, layer)} holds no evaluation of layer {layer} for the current "
            f"inputs and settings ({key_file}); rerun its group: "
            f"snakemake --forcerun {group_manifest}"
        )
    for name, out in zip(ENTRY_FILES, out_files, strict=True):
        with io.atomic_path(out, fsync=False) as tmp:
            shutil.copyfile(entry_dir(store_dir, layer) / name, tmp)
    log.info("layer %d served from %s", layer, store_dir)
