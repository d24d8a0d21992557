"""Cross-field config checks, grid expansion and stable seeds.

The JSON Schema (``config.schema.yaml``) checks keys and types; this module checks what a schema
cannot: layers within the model's depth, init names, embedded-model architecture consistency.
Everything here is cheap and runs when the Snakefile is parsed, before any job starts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

BASE_INITS = (
    "trained",
    "step0",
    "rerandomized",
    "rerandomized_embeddings",
    "noise_control",
    "permuted",
    "permuted_embeddings",
    "standard_init",
)

# Init names may carry a scale multiplier and a distribution (beyond the paper, issue "init sweep"):
#   rerandomized-x0.5-uniform, rerandomized_embeddings-x2, rerandomized-laplace
INIT_RE = re.compile(
    r"^(?P<base>trained|step0|rerandomized_embeddings|rerandomized|noise_control"
    r"|permuted_embeddings|permuted|standard_init)"
    r"(?:-x(?P<scale>[0-9]+(?:\.[0-9]+)?))?"
    r"(?:-(?P<dist>normal|uniform|laplace))?$"
)

# Standard Pythia shapes (paper.md §2.1) so that layer indices are checked without any download.
PYTHIA_SHAPES: dict[str, dict[str, int]] = {
    "pythia-14m": {"n_layers": 6, "d_model": 128},
    "pythia-70m": {"n_layers": 6, "d_model": 512},
    "pythia-160m": {"n_layers": 12, "d_model": 768},
    "pythia-410m": {"n_layers": 24, "d_model": 1024},
    "pythia-1b": {"n_layers": 16, "d_model": 2048},
    "pythia-1.4b": {"n_layers": 24, "d_model": 2048},
    "pythia-2.8b": {"n_layers": 32, "d_model": 2560},
    "pythia-6.9b": {"n_layers": 32, "d_model": 4096},
    "pythia-12b": {"n_layers": 36, "d_model": 5120},
}


class ConfigError(ValueError):
    """A config value is invalid; the message names the offending key."""


@dataclass(frozen=True)
class InitSpec:
    """A parsed init name."""

    name: str
    base: str
    scale: float
    distribution: str

    @property
    def rerandomizes(self) -> bool:
        return self.base in ("rerandomized", "rerandomized_embeddings")


def parse_init(name: str, init_cfg: dict[str, Any] | None = None) -> InitSpec:
    """Parse an init name; defaults for scale/distribution come from the ``init`` config section."""
    m = INIT_RE.match(name)
    if m is None:
        raise ConfigError(
            f"inits: unknown init name {name!r}; expected one of {', '.join(BASE_INITS)} "
            "(rerandomized* may add '-x<scale>' and '-normal|-uniform|-laplace')"
        )
    init_cfg = init_cfg or {}
    base = m.group("base")
    if (m.group("scale") or m.group("dist")) and base not in (
        "rerandomized",
        "rerandomized_embeddings",
    ):
        raise ConfigError(
            f"inits: {name!r}: scale/distribution suffixes apply to rerandomized* only"
        )
    scale = float(m.group("scale")) if m.group("scale") else float(init_cfg.get("scale", 1.0))
    dist = m.group("dist") or init_cfg.get("distribution", "normal")
    return InitSpec(name=name, base=base, scale=scale, distribution=dist)


def pythia_shape(hf_name: str) -> dict[str, int]:
    """Shape of an official Pythia model from its hub name (``EleutherAI/pythia-70m-deduped``)."""
    short = hf_name.split("/")[-1].removesuffix("-deduped").removesuffix("-v0")
    if short not in PYTHIA_SHAPES:
        raise ConfigError(
            f"models: {hf_name!r} is not a known Pythia model ({', '.join(PYTHIA_SHAPES)})"
        )
    return PYTHIA_SHAPES[short]


def model_shape(name: str, mcfg: dict[str, Any]) -> dict[str, int]:
    """n_layers and d_model of a configured model, without loading it."""
    if mcfg["source"] == "embedded":
        arch = mcfg.get("arch")
        if arch is None:
            raise ConfigError(f"models.{name}.arch is required for source 'embedded'")
        return {"n_layers": arch["n_layers"], "d_model": arch["d_model"]}
    hf = mcfg.get("hf_name")
    if not hf:
        raise ConfigError(f"models.{name}.hf_name is required for source 'pythia'")
    return pythia_shape(hf)


PYTHIA_VOCAB = 50304  # d_vocab of every Pythia model (padded GPT-NeoX tokenizer)


def model_n_params(name: str, mcfg: dict[str, Any], vocab_size: int) -> int:
    """Approximate parameter count from the shape: 12 L d^2 (attention + 4x MLP) + 2 V d."""
    shape = model_shape(name, mcfg)
    vocab = vocab_size if mcfg["source"] == "embedded" else PYTHIA_VOCAB
    return 12 * shape["n_layers"] * shape["d_model"] ** 2 + 2 * vocab * shape["d_model"]


def model_mem_mb(name: str, mcfg: dict[str, Any], vocab_size: int, attempt: int = 1) -> int:
    """Host RAM (MB) a job that loads the model asks for: three copies of the weights (loaded,
    moved/converted, activations and buffers) plus 1 GB for the interpreter and libraries, times
    ``attempt`` (a job killed for memory is resubmitted with more). pythia-6.9b in bfloat16: ~43 GB.
    """
    bytes_per = 2 if mcfg.get("dtype") in ("bfloat16", "float16") else 4
    weights_mb = model_n_params(name, mcfg, vocab_size) * bytes_per / 2**20
    return int((1000 + 3 * weights_mb) * attempt)


ARCHITECTURES = ("topk", "relu", "jumprelu", "gated", "batchtopk")
NORMALIZATIONS = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")
#: Normalisations the TopK trainers support (a constant factor they can fold).
FUSED_NORMALIZATIONS = ("none", "expected_average_only_in")
#: sae-lens families (randsae.sae.families) and the sae-lens training class each one uses.
SAELENS_FAMILIES = {
    "relu": "StandardTrainingSAE",
    "jumprelu": "JumpReLUTrainingSAE",
    "gated": "GatedTrainingSAE",
    "batchtopk": "BatchTopKTrainingSAE",
}


def family_error(sae: dict[str, Any]) -> str | None:
    """Why ``sae.architecture`` / ``normalize_activations`` / ``backend`` do not fit together."""
    arch = sae.get("architecture", "topk")
    norm = sae.get("normalize_activations", "none")
    if arch not in ARCHITECTURES:
        return f"sae.architecture must be one of {', '.join(ARCHITECTURES)}, got {arch!r}"
    if norm not in NORMALIZATIONS:
        return f"sae.normalize_activations must be one of {', '.join(NORMALIZATIONS)}, got {norm!r}"
    if arch == "topk" and norm not in FUSED_NORMALIZATIONS:
        return (
            f"sae.normalize_activations={norm!r} is per-token and needs a sae-lens family "
            f"(sae.architecture: {', '.join(SAELENS_FAMILIES)}); sae.architecture topk supports "
            f"{', '.join(FUSED_NORMALIZATIONS)}"
        )
    if arch != "topk" and sae.get("backend", "fused") != "fused":
        return f"sae.backend applies to sae.architecture topk only (architecture is {arch!r})"
    if arch != "topk" and sae.get("micro_batch_size") is not None:
        mb, bs = int(sae["micro_batch_size"]), int(sae["batch_size"])
        if mb < bs:
            return (
                f"sae.micro_batch_size={mb} < sae.batch_size={bs} needs sae.architecture topk "
                "(sae-lens's trainer steps the optimizer on every batch it is given)"
            )
    return None


def sae_n_latents(sae: dict[str, Any], d_model: int) -> int:
    """SAE width: ``sae.n_latents`` when set (the same width for every model), else
    ``sae.expansion_factor * d_model``."""
    if sae.get("n_latents") is not None:
        return int(sae["n_latents"])
    return int(sae["expansion_factor"]) * int(d_model)


def sae_mem_mb(
    name: str, mcfg: dict[str, Any], sae: dict[str, Any], on_gpu: bool, attempt: int = 1
) -> int:
    """Host RAM (MB) of one SAE training job: one shuffle block of fp32 activations, the SAE
    weights twice (a host copy when saving), on CPU also gradients and Adam's two moments, plus
    1 GB; times ``attempt``."""
    d = model_shape(name, mcfg)["d_model"]
    weights_mb = 2 * d * sae_n_latents(sae, d) * 4 / 2**20
    block_mb = sae["shuffle_buffer_tokens"] * d * 4 / 2**20
    return int((1000 + block_mb + (2 if on_gpu else 5) * weights_mb) * attempt)


def eval_mem_mb(
    name: str,
    mcfg: dict[str, Any],
    vocab_size: int,
    sae: dict[str, Any],
    batch_size: int,
    context_size: int,
    attempt: int = 1,
) -> int:
    """Host RAM (MB) of an evaluation job: the model (:func:`model_mem_mb`), the SAE weights and
    the logits working set (~12 bytes per batch position and vocabulary entry, docs/metrics.md)."""
    d = model_shape(name, mcfg)["d_model"]
    vocab = vocab_size if mcfg["source"] == "embedded" else PYTHIA_VOCAB
    extra = (2 * d * sae_n_latents(sae, d) * 4 + 12 * batch_size * context_size * vocab) / 2**20
    return model_mem_mb(name, mcfg, vocab_size, attempt) + int(extra * attempt)


def check_config(config: dict[str, Any]) -> Any:
    """Raise ConfigError for cross-field problems the schema cannot express.

    Builds the frozen section dataclasses (:class:`randsae.sections.RunConfig`), whose
    ``__post_init__`` hold the checks, and returns it.
    """
    from randsae.sections import RunConfig

    run = RunConfig.from_dict(config)
    check_variants(config)
    check_autointerp(config["autointerp"])
    return run


def check_variants(config: dict[str, Any]) -> None:
    """SAE variants (``models.<m>.variant_of`` + ``models.<m>.sae`` overrides, the appendix
    experiments): the base exists and is no variant itself, and each variant's k fits its width."""
    models = config["models"]
    for name, mcfg in models.items():
        base = mcfg.get("variant_of")
        if base is not None and base not in models:
            raise ConfigError(f"models.{name}.variant_of: {base!r} is not a model of this config")
        if base is not None and models[base].get("variant_of") is not None:
            raise ConfigError(f"models.{name}.variant_of: {base!r} is itself a variant")
        sae = sae_config(config, name)
        key = f"models.{name}.sae.k" if "k" in (mcfg.get("sae") or {}) else "sae.k"
        d_sae = sae["expansion_factor"] * model_shape(name, mcfg)["d_model"]
        if sae["k"] >= d_sae:
            raise ConfigError(
                f"{key}: k={sae['k']} must be smaller than n_latents={d_sae} ({name})"
            )
        err = micro_batch_error(sae)
        if err:
            raise ConfigError(f"models.{name}.sae: {err}")


def sae_config(config: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``sae`` section for one model: ``config["sae"]`` with ``models.<model>.sae`` overrides
    (SAE variants of the appendix experiments) on top."""
    return {**config["sae"], **(config["models"][model].get("sae") or {})}


def micro_batch_error(sae: dict[str, Any]) -> str | None:
    """Why ``sae.micro_batch_size`` is unusable with the rest of ``sae`` (None if it is fine).

    A micro-batch at least as large as the batch means one pass (as ``null``), so scaled-down
    configs may keep the paper's micro-batch.
    """
    mb = sae.get("micro_batch_size")
    if mb is None:
        return None
    bs = int(sae["batch_size"])
    if int(mb) < 1 or (int(mb) < bs and bs % int(mb)):
        return f"sae.micro_batch_size={mb} must divide sae.batch_size={bs} (or be >= it: one pass)"
    if int(mb) < bs and sae.get("backend", "fused") != "fused":
        return (
            f"sae.micro_batch_size={mb} needs sae.backend: fused (sae-lens's SAETrainer steps "
            "the optimizer on every batch it is given); set micro_batch_size: null or "
            "backend: fused"
        )
    return None


def check_autointerp(ai: dict[str, Any]) -> None:
    """Cross-key checks of the autointerp section (judges and simulation)."""
    second = ai.get("second_judge")
    if second is not None and second == ai.get("backend"):
        raise ConfigError(
            f"autointerp.second_judge={second!r} is the backend itself; choose the other judge"
        )
    n_sim = int((ai.get("simulation") or {}).get("n_latents") or 0)
    if n_sim > 0 and "openai" not in (ai.get("backend"), second):
        raise ConfigError(
            "autointerp.simulation.n_latents > 0 needs a judge with logprobs: set "
            "autointerp.backend or autointerp.second_judge to openai"
        )


def canonical(obj: Any) -> Any:
    """The same config with every mapping's keys sorted (lists keep their order)."""
    if isinstance(obj, dict):
        return {k: canonical(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from a sha256 of the parts (never Python's salted ``hash``)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest, 16) % (2**31)


def cells(config: dict[str, Any]) -> list[tuple[str, str, int]]:
    """All (model, init, layer) cells of the grid, in config order."""
    return [
        (m, init, layer)
        for m, mcfg in config["models"].items()
        for init in config["inits"]
        for layer in mcfg["layers"]
    ]


# Top-level keys an overlay replaces whole instead of merging into (a scale overlay maps the model
# list onto other repos; merged, the base file's other models would stay in the grid).
OVERLAY_REPLACES = ("models",)


def apply_overlay(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in, as ``snakemake --configfile base overlay`` merges
    nested mappings, except that the keys in :data:`OVERLAY_REPLACES` are replaced whole.

    Snakemake 9 merges every nested mapping of a later ``--configfile`` into the earlier one, so
    an overlay cannot drop a model; write the merged file once with
    ``python -m randsae.config BASE OVERLAY OUT`` and pass it as the one ``--configfile``.
    """
    import copy

    def merge(a: Any, b: Any) -> Any:
        if not isinstance(a, dict) or not isinstance(b, dict):
            return copy.deepcopy(b)
        out = copy.deepcopy(a)
        for k, v in b.items():
            out[k] = merge(out.get(k), v) if k in out else copy.deepcopy(v)
        return out

    merged = merge(base, {k: v for k, v in overlay.items() if k not in OVERLAY_REPLACES})
    for key in OVERLAY_REPLACES:
        if key in overlay:
            merged[key] = copy.deepcopy(overlay[key])
    return merged


def main(argv: list[str] | None = None) -> None:
    """``python -m randsae.config BASE OVERLAY OUT``: write BASE with OVERLAY applied."""
    import argparse
    from pathlib import Path

    import yaml

    ap = argparse.ArgumentParser(description="Apply a config overlay (see apply_overlay).")
    ap.add_argument("base")
    ap.add_argument("overlay")
    ap.add_argument("out")
    args = ap.parse_args(argv)
    base = yaml.safe_load(Path(args.base).read_text())
    overlay = yaml.safe_load(Path(args.overlay).read_text())
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; not overwriting it")
    text = f"# {args.base} + overlay {args.overlay} (python -m randsae.config)\n"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text + yaml.safe_dump(apply_overlay(base, overlay), sort_keys=False))
    tmp.replace(out)


if __name__ == "__main__":
    main()
