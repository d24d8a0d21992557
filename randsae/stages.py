"""Stage entry points: one function per Snakemake rule, called by ``scripts/<rule>.py``.

Each function takes plain paths and config slices (never the snakemake object), so tests call
them directly. They do the I/O around the pure functions of the other modules and write a
provenance record next to their main output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import provenance
from .config import stable_seed

log = logging.getLogger("randsae")

OFFLINE_ENV = {"WANDB_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false"}


@contextlib.contextmanager
def logged(log_path: str | Path | None) -> Iterator[None]:
    """Send logging, stdout and stderr of a stage to its Snakemake log file."""
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
        finally:
            root.removeHandler(handler)


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))


def run(fn: Callable[..., Any], smk: Any, **kwargs: Any) -> Any:
    """Adapter helper: run ``fn`` under the rule's log with the rule's thread count."""
    with logged(smk.log[0] if len(smk.log) else None):
        set_threads(smk.threads)
        log.info("rule %s wildcards %s", smk.rule, dict(smk.wildcards.items()))
        return fn(**kwargs)


# ---------------------------------------------------------------- data


def corpus(out_train: str, out_val: str, out_meta: str, data: dict[str, Any], seed: int) -> None:
    from .corpus import gensim_documents, split_documents, write_jsonl

    if data["source"] != "gensim":
        # Online datasets are streamed at tokenization time; the corpus files record that.
        write_jsonl([], out_train)
        write_jsonl([], out_val)
        provenance.write_meta(out_meta, "corpus", params={"data": data}, source=data["source"])
        return
    docs, hashes = gensim_documents()
    train, val = split_documents(docs, data["val_fraction"], stable_seed(seed, "corpus-split"))
    n_train, n_val = write_jsonl(train, out_train), write_jsonl(val, out_val)
    chars = sum(len(d["text"]) for d in docs)
    log.info("corpus: %d train / %d val documents, %d characters", n_train, n_val, chars)
    provenance.write_meta(
        out_meta, "corpus", params={"data": data, "seed": seed},
        n_train_docs=n_train, n_val_docs=n_val, n_chars=chars, source_sha256=hashes,
    )


def tokenizer(corpus_train: str, out_dir: str, vocab_size: int) -> None:
    from .corpus import read_texts
    from .tokenizer import train_bpe

    info = train_bpe(read_texts(corpus_train), vocab_size, out_dir)
    log.info("tokenizer: %s", info)
    provenance.write_meta(Path(out_dir) / "meta.json", "tokenizer", params={"vocab_size": vocab_size}, **info)


def tokenize(
    model_cfg: dict[str, Any], data: dict[str, Any], corpus_train: str, corpus_val: str,
    tokenizer_dir: str | None, out_train: str, out_val: str, max_train_tokens: int | None,
) -> None:
    from .corpus import hf_dataset_texts, read_texts, tokenize_texts
    from .tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer_dir if model_cfg["source"] == "embedded" else model_cfg["hf_name"])
    eos = tok.eos_token_id
    if data["source"] == "gensim":
        train_texts, val_texts = read_texts(corpus_train), read_texts(corpus_val)
    else:
        train_texts = hf_dataset_texts(data["hf_dataset"], "train_split")
        val_texts = hf_dataset_texts(data["hf_dataset"], "val_split")
    train = tokenize_texts(train_texts, tok, eos, max_train_tokens)
    val = tokenize_texts(val_texts, tok, eos, None)
    Path(out_train).parent.mkdir(parents=True, exist_ok=True)
    np.save(out_train, train)
    np.save(out_val, val)
    log.info("tokens: %d train, %d val", len(train), len(val))


# ---------------------------------------------------------------- models


def init_model(tokenizer_dir: str, arch: dict[str, Any], seed: int, out_dir: str) -> None:
    from .models import init_embedded
    from .tokenizer import load_tokenizer

    d_vocab = len(load_tokenizer(tokenizer_dir))
    info = init_embedded(arch, d_vocab, seed, out_dir)
    log.info("step-0 model: %s", info)


def train_model(
    step0_dir: str, tokens_train: str, tokens_val: str, train: dict[str, Any], seed: int,
    out_dir: str, curve_csv: str,
) -> None:
    from .models import train_embedded

    metrics = train_embedded(
        step0_dir, np.load(tokens_train), np.load(tokens_val), train, seed, out_dir, curve_csv
    )
    log.info("trained model: %s", metrics)
    if metrics["margin_vs_unigram_nats"] < 1.0:
        log.warning(
            "validation loss %.3f is less than 1 nat below the unigram baseline %.3f",
            metrics["val_loss"], metrics["unigram_val_loss"],
        )


def build_init(model: str, init: str, config: dict[str, Any], device: str, out_json: str) -> None:
    from .inits import init_record, load_model
    from .models import resolve_device

    lm = load_model(model, init, config, device=resolve_device(device))
    rec = init_record(lm, model, init, config)
    rec["provenance"] = provenance.meta_record("build_init", params={"init": config["init"]})
    provenance.write_json(out_json, rec)


# ---------------------------------------------------------------- activations / SAE


def cache_activations(
    model: str, init: str, config: dict[str, Any], tokens_train: str, out_dir: str, device: str
) -> None:
    from .activations import write_cache
    from .corpus import sequences
    from .inits import load_model
    from .models import resolve_device

    act = config["activations"]
    lm = load_model(model, init, config, device=resolve_device(device))
    seqs = sequences(np.load(tokens_train), act["context_size"], act["n_train_tokens"])
    layers = list(range(max(config["models"][model]["layers"]) + 1))
    manifest = write_cache(
        lm, seqs, layers, out_dir, batch_size=act["batch_size"], shard_tokens=act["shard_tokens"],
        dtype=act["dtype"], meta={"model": model, "init": init},
    )
    if manifest["n_tokens"] < act["n_train_tokens"]:
        log.warning(
            "only %d training tokens available (activations.n_train_tokens=%d)",
            manifest["n_tokens"], act["n_train_tokens"],
        )


def train_sae(
    model: str, init: str, layer: int, sae_cfg: dict[str, Any], act_cfg: dict[str, Any], seed: int,
    cache_dir: str, out_dir: str, curve_csv: str, checkpoint_dir: str, device: str,
) -> None:
    from .act_source import CachedActivationSource
    from .activations import hook_name
    from .models import resolve_device
    from .sae_train import train_sae as _train

    manifest = json.loads((Path(cache_dir) / "manifest.json").read_text())
    job_seed = stable_seed(seed, "sae", model, init, layer)
    # One shuffle seed per (model, init): the stream source (one buffer per layer, shared
    # forward pass) uses the same seed, so both sources feed identical batches.
    source = CachedActivationSource(
        cache_dir, layer, batch_size=sae_cfg["batch_size"], n_tokens=sae_cfg["n_tokens"],
        buffer_tokens=sae_cfg["shuffle_buffer_tokens"], seed=stable_seed(seed, "shuffle", model, init),
    )
    meta = {
        "model_name": model, "init": init, "layer": layer, "hook_name": hook_name(layer),
        "context_size": act_cfg["context_size"],
    }
    summary = _train(
        source, d_in=manifest["d_model"], cfg=sae_cfg, seed=job_seed, out_dir=out_dir,
        device=resolve_device(device), metadata=meta, checkpoint_dir=checkpoint_dir, log_csv=curve_csv,
    )
    log.info("SAE: %s", summary)
    provenance.write_meta(
        Path(out_dir) / "meta.json", "train_sae", params={"sae": sae_cfg}, summary=summary, **meta
    )


def layer_groups(layers: list[int], group_size: int) -> list[list[int]]:
    """Consecutive groups of the sorted layers (stream mode: one forward pass per group)."""
    layers = sorted(layers)
    return [layers[i : i + group_size] for i in range(0, len(layers), group_size)]


def train_sae_group(
    model: str, init: str, layers: list[int], config: dict[str, Any], seed: int,
    tokens_train: str, out_dir: str, device: str,
) -> None:
    """Stream mode: train the SAEs of a group of layers from one forward pass, no disk cache."""
    from .act_source import StreamActivationSource
    from .activations import hook_name
    from .inits import load_model
    from .models import resolve_device
    from .sae_train import train_sae_group as _train_group

    dev = resolve_device(device)
    sae_cfg, act = config["sae"], config["activations"]
    lm = load_model(model, init, config, device=dev)
    source = StreamActivationSource(
        lm, np.load(tokens_train), layers, context_size=act["context_size"],
        batch_size=sae_cfg["batch_size"], n_tokens=sae_cfg["n_tokens"],
        buffer_tokens=sae_cfg["shuffle_buffer_tokens"], seed=stable_seed(seed, "shuffle", model, init),
        forward_batch_size=act["batch_size"], storage_dtype=act["dtype"],
    )
    out = Path(out_dir)
    meta = {
        layer: {"model_name": model, "init": init, "layer": layer, "hook_name": hook_name(layer),
                "context_size": act["context_size"]}
        for layer in layers
    }
    summaries = _train_group(
        source, d_in=lm.model.cfg.d_model, cfg=sae_cfg,
        seeds={layer: stable_seed(seed, "sae", model, init, layer) for layer in layers},
        out_dirs={layer: out / f"layer{layer}" for layer in layers}, device=dev, metadata=meta,
        checkpoint_dir=Path("results/checkpoints") / model / init / f"group{'-'.join(map(str, layers))}",
        log_csvs={layer: out / f"layer{layer}" / "training_curve.csv" for layer in layers},
    )
    for layer, summary in summaries.items():
        log.info("SAE layer %d: %s", layer, summary)
        provenance.write_meta(
            out / f"layer{layer}" / "meta.json", "train_sae_group", params={"sae": sae_cfg},
            summary=summary, **meta[layer],
        )


def link_sae(group_dir: str, layer: int, out_files: list[str]) -> None:
    """Expose one layer's SAE from a group directory at the per-layer path (hard links)."""
    src = Path(group_dir) / f"layer{layer}"
    for dest in map(Path, out_files):
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.unlink()
        try:
            os.link(src / dest.name, dest)
        except OSError:
            import shutil

            shutil.copy2(src / dest.name, dest)


def eval_sae(
    model: str, init: str, layer: int, config: dict[str, Any], sae_dir: str, tokens_val: str,
    out_json: str, out_latents: str, device: str,
) -> None:
    """SAE quality metrics and abstractness measures from the same held-out forward passes."""
    import pandas as pd

    from .abstractness import AbstractnessAccumulator, summarize_abstractness
    from .corpus import sequences
    from .inits import load_model
    from .metrics import evaluate_sae, to_jsonable
    from .models import resolve_device
    from .sae import TopKSAE

    dev = resolve_device(device)
    lm = load_model(model, init, config, device=dev)
    sae = TopKSAE.load(sae_dir, device=dev)
    ev = config["eval"]
    seqs = sequences(np.load(tokens_val), config["activations"]["context_size"], ev["n_tokens"])
    acc = AbstractnessAccumulator(
        sae.W_enc.shape[1], lm.model.cfg.d_vocab, top_n=ev["entropy_top_n"],
        r2_min_count=ev["r2_min_count"], device=dev,
    )
    result = evaluate_sae(
        lm, sae, seqs, layer, batch_size=ev["batch_size"], device=dev,
        density_bins=ev["density_bins"], density_log10_min=ev["density_log10_min"],
        ignore_token_ids=ev["ignore_token_ids"], latent_consumers=[acc.update],
    )
    per_latent = acc.finalize(ev["abstractness_min_activations"])
    pd.DataFrame({k: np.asarray(v) for k, v in per_latent.items()}).to_csv(out_latents, index=False)
    scalars = {k: v for k, v in result.items() if np.isscalar(v)}
    arrays = {k: v for k, v in result.items() if not np.isscalar(v) and k.startswith("density_hist")}
    provenance.write_json(
        out_json,
        to_jsonable({
            "model": model, "init": init, "layer": layer, **scalars,
            "abstractness": summarize_abstractness(per_latent), "arrays": arrays,
        }),
    )
    log.info("metrics: EV %.4f, CE score %.4f", result["explained_variance"], result["ce_loss_score"])


def latent_examples(
    model: str, init: str, layer: int, config: dict[str, Any], sae_dir: str, tokens_val: str,
    tokenizer_path: str, out_json: str, device: str,
) -> None:
    from .corpus import sequences
    from .examples import latent_codes, sample_examples
    from .inits import load_model
    from .models import resolve_device
    from .sae import TopKSAE
    from .tokenizer import load_tokenizer, token_strings

    dev = resolve_device(device)
    ex = config["examples"]
    lm = load_model(model, init, config, device=dev)
    sae = TopKSAE.load(sae_dir, device=dev)
    seqs = sequences(np.load(tokens_val), ex["context_size"], ex["n_tokens"])
    vals, idx = latent_codes(lm, seqs, layer, lambda x: sae.encode(x.to(dev)), config["eval"]["batch_size"])
    tok = load_tokenizer(tokenizer_path)
    result = sample_examples(
        seqs.reshape(-1), vals, idx, sae.W_enc.shape[1], ex,
        stable_seed(config["seed"], "examples", model, init, layer),
        lambda ids: token_strings(tok, ids),
    )
    provenance.write_json(out_json, {"model": model, "init": init, "layer": layer, **result})
    log.info("examples: %d latents chosen, %d examined", result["n_latents_chosen"], result["n_examined"])


# ---------------------------------------------------------------- autointerp


def make_backend(ai_cfg: dict[str, Any], state_dir: str | Path, cell: dict[str, Any]) -> Any:
    """The configured explanation/scoring backend."""
    from .autointerp import LexicalBackend

    if ai_cfg["backend"] == "lexical":
        return LexicalBackend(ai_cfg["lexical_top_tokens"])
    from .claude import AnthropicBackend

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return AnthropicBackend(
        ai_cfg["anthropic"], cache_path="results/autointerp/llm_cache.sqlite",
        state_dir=state_dir, ledger_path=state_dir / "ledger.jsonl", cell=cell,
    )


def explain(examples_json: str, ai_cfg: dict[str, Any], out_jsonl: str) -> None:
    ex = json.loads(Path(examples_json).read_text())
    cell = {k: ex[k] for k in ("model", "init", "layer")}
    backend = make_backend(ai_cfg, Path(out_jsonl).parent / "state", cell)
    results = backend.explain(ex["latents"])
    tmp = out_jsonl + ".tmp"
    with open(tmp, "w") as f:
        for rec in ex["latents"]:
            r = results[rec["latent"]]
            f.write(json.dumps({**cell, "latent": rec["latent"], "backend": ai_cfg["backend"], **r}) + "\n")
    os.replace(tmp, out_jsonl)


def score(
    examples_json: str, explanations_jsonl: str, ai_cfg: dict[str, Any], seed: int,
    out_json: str, out_windows: str,
) -> None:
    from .autointerp import build_items, summarize_scores

    ex = json.loads(Path(examples_json).read_text())
    cell = {k: ex[k] for k in ("model", "init", "layer")}
    expl = {}
    with open(explanations_jsonl) as f:
        for line in f:
            r = json.loads(line)
            expl[r["latent"]] = r
    backend = make_backend(ai_cfg, Path(out_json).parent / "state", cell)
    rows, summary = [], {}
    lat_ids = [rec["latent"] for rec in ex["latents"]]
    # Random-explanation control: each latent scored with another latent's explanation.
    shift = {lat: lat_ids[(i + 1) % len(lat_ids)] for i, lat in enumerate(lat_ids)} if len(lat_ids) > 1 else {}
    for scorer in ai_cfg["scorers"]:
        for control in (False, True):
            if control and not shift:
                continue
            name = f"{scorer}_random_explanation" if control else scorer
            tasks, labels = {}, {}
            for rec in ex["latents"]:
                items = build_items(rec, scorer, stable_seed(seed, "items", *cell.values(), rec["latent"], scorer))
                e = expl[shift[rec["latent"]]] if control else expl[rec["latent"]]
                tasks[rec["latent"]] = (e, items)
                labels.update({it["id"]: (rec["latent"], it["label"]) for it in items})
            preds = backend.score(scorer, tasks)
            scorer_rows = [
                {"scorer": name, "id": iid, "latent": lat, "label": lab,
                 "prob": preds.get(iid, {}).get("prob"), "error": preds.get(iid, {}).get("error")}
                for iid, (lat, lab) in labels.items()
            ]
            rows += scorer_rows
            summary[name] = summarize_scores(
                scorer_rows, ai_cfg["bootstrap"], stable_seed(seed, "bootstrap", *cell.values(), name)
            )
    with open(out_windows + ".tmp", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    os.replace(out_windows + ".tmp", out_windows)
    provenance.write_json(out_json, {**cell, "backend": ai_cfg["backend"], "summary": summary})


# ---------------------------------------------------------------- tables / figures


def tables(
    metric_jsons: list[str], latent_csvs: list[str], score_jsons: list[str], init_jsons: list[str],
    out_metrics: str, out_autointerp: str, out_abstractness: str, out_density: str,
    out_llm_cost: str | None = None,
) -> None:
    from .aggregate import (
        abstractness_table,
        autointerp_table,
        density_table,
        n_params_by_model,
        sae_metrics_table,
    )

    n_params = n_params_by_model(init_jsons)
    Path(out_metrics).parent.mkdir(parents=True, exist_ok=True)
    sae_metrics_table(metric_jsons, n_params).to_csv(out_metrics, index=False)
    autointerp_table(score_jsons, n_params).to_csv(out_autointerp, index=False)
    abstractness_table(metric_jsons, latent_csvs, n_params).to_csv(out_abstractness, index=False)
    density_table(metric_jsons, n_params).to_csv(out_density, index=False)
    if out_llm_cost is not None:
        from .llm import aggregate_costs

        # each cell's ledger sits next to its scores (written by the Claude backend only)
        ledgers = [p for p in (Path(s).parent / "state" / "ledger.jsonl" for s in score_jsons) if p.exists()]
        aggregate_costs(ledgers).to_csv(out_llm_cost, index=False)


FIGURE_METRICS = {
    "explained_variance": "explained variance",
    "ce_loss_score": "CE loss score (recovered)",
    "ce_loss_increase": "CE loss increase (nats)",
    "kl_div_score": "KL divergence score",
    "l0": "L0",
    "frac_dead": "dead latent fraction",
}


def figure_targets(fig_dir: str, scorers: list[str], formats: list[str], init_sweep: bool = False) -> list[str]:
    """Every figure file the ``figures`` rule writes (used by the rule's output list)."""
    names = [f"sae_{m}_vs_layer" for m in FIGURE_METRICS]
    names += ["sae_density_histograms", "abstractness_vs_layer"]
    names += [f"autointerp_{s}{c}_auroc_vs_layer" for s in scorers for c in ("", "_random_explanation")]
    if init_sweep:
        names.append("init_sweep")
    return [f"{fig_dir}/{n}.{ext}" for n in names for ext in [*formats, "csv"]]


def figures(
    sae_metrics_csv: str, autointerp_csv: str, abstractness_csv: str, density_csv: str,
    fig_dir: str, scorers: list[str], formats: list[str], init_sweep: bool = False,
) -> None:
    import pandas as pd

    from .plot_metrics import plot_abstractness, plot_density_histograms
    from .plotting import init_sweep_figure, metric_vs_layer

    sm = pd.read_csv(sae_metrics_csv)
    for metric, label in FIGURE_METRICS.items():
        metric_vs_layer(sm, metric, f"{fig_dir}/sae_{metric}_vs_layer", ylabel=label, formats=formats)
    ab = pd.read_csv(abstractness_csv)
    plot_abstractness(ab[ab["row"] == "summary"], f"{fig_dir}/abstractness_vs_layer", formats)
    plot_density_histograms(pd.read_csv(density_csv), f"{fig_dir}/sae_density_histograms", formats)
    ai = pd.read_csv(autointerp_csv)
    for scorer in scorers:
        for ctrl in ("", "_random_explanation"):
            sub = ai[ai["scorer"] == scorer + ctrl]
            metric_vs_layer(
                sub, "auroc_pooled", f"{fig_dir}/autointerp_{scorer}{ctrl}_auroc_vs_layer",
                ylabel=f"{scorer}{ctrl.replace('_', ' ')}: elicited-probability AUROC",
                ci=("auroc_pooled_ci_low", "auroc_pooled_ci_high"), formats=formats,
            )
    if init_sweep:
        init_sweep_figure(sm, ab[ab["row"] == "summary"], f"{fig_dir}/init_sweep", formats=formats)


def latent_page(
    model: str, layer: int, inits: list[str], examples_jsons: list[str], explanation_jsonls: list[str],
    out_html: str,
) -> None:
    """HTML page of top windows and explanations, every init side by side."""
    from .pages import write_page

    examples = {i: json.loads(Path(p).read_text()) for i, p in zip(inits, examples_jsons, strict=True)}
    expl = {}
    for i, p in zip(inits, explanation_jsonls, strict=True):
        with open(p) as f:
            expl[i] = [json.loads(line) for line in f if line.strip()]
    write_page(out_html, f"{model} layer {layer}: top windows per init", examples, expl)
