"""One function per toy rule: read inputs, call the toy modules, write outputs.

The ``scripts/`` adapters only unpack Snakemake's ``input/output/params`` into these calls.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from randsae.models.neox import resolve_device
from randsae.toy import ARMS, METRICS
from randsae.toy.config import parse_dataset
from randsae.toy.illustration import illustration_2d, long_table
from randsae.toy.metrics import summarize
from randsae.toy.train import build_arm, check_arm, run_sweep

log = logging.getLogger("randsae.toy")


def _mkdirs(*paths: str) -> None:
    for p in paths:
        Path(p).parent.mkdir(parents=True, exist_ok=True)


def _save(fig, data: pd.DataFrame, pdf: str, png: str, csv: str) -> None:
    """Write a figure through the shared writer; the three rule outputs share one base name."""
    from randsae.report.plotting import save_figure

    base = Path(pdf).with_suffix("")
    if {Path(png), Path(csv)} != {base.with_suffix(".png"), base.with_suffix(".csv")}:
        raise ValueError(f"figure outputs must share a base name: {pdf}, {png}, {csv}")
    save_figure(fig, data, base, ("pdf", "png"))


def make_toy_2d(seed: int, two_d: dict, pdf: str, png: str, csv: str) -> None:
    """The 2-D illustration figure and its CSV (all four panels, long format)."""
    from randsae.toy.plotting import plot_2d

    panels = illustration_2d(
        seed=seed,
        num_samples=int(two_d["num_samples"]),
        hidden_expansion=int(two_d["hidden_expansion"]),
    )
    _save(plot_2d(panels, float(two_d["lim"])), long_table(panels), pdf, png, csv)
    log.info("2-D illustration: %d samples", int(two_d["num_samples"]))


def load_vectors(path: str | None, max_words: int | None = None) -> torch.Tensor:
    """Word vectors (.npy) as a float32 tensor, optionally only the first ``max_words``."""
    if not path:
        raise ValueError("word datasets need an input vectors file")
    arr = np.load(path)
    if max_words is not None:
        arr = arr[: int(max_words)]
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def _arm_data(
    dataset: str, arm: str, seeds: list[int], common: dict, data: dict, vectors: str | None
):
    kind, _dim = parse_dataset(dataset)
    kwargs = dict(
        test_fraction=float(common["test_fraction"]), ffn_expansion=int(common["ffn_expansion"])
    )
    if kind == "sharkey":
        return build_arm(dataset, arm, seeds, int(common["seed"]), sharkey=data, **kwargs)
    return build_arm(
        dataset,
        arm,
        seeds,
        int(common["seed"]),
        vectors=load_vectors(vectors),
        gaussian_num_samples=int(data["gaussian_num_samples"]),
        **kwargs,
    )


def make_toy_data_stats(
    dataset: str,
    arms: list[str],
    n_seeds: int,
    common: dict,
    data: dict,
    vectors: str | None,
    out_csv: str,
) -> pd.DataFrame:
    """Descriptive statistics of every (arm, seed) dataset: sizes, mean, std, feature norms
    and, for the synthetic data, the mean number of active features."""
    rows = []
    for arm in arms:
        ad = _arm_data(dataset, check_arm(arm), list(range(n_seeds)), common, data, vectors)
        for i, seed in enumerate(ad.seeds):
            x = torch.cat([ad.train[i], ad.test[i]])
            row = {
                "dataset": dataset,
                "arm": arm,
                "seed": seed,
                "n_train": ad.train.shape[1],
                "n_test": ad.test.shape[1],
                "dim": x.shape[1],
                "mean": x.mean().item(),
                "std": x.std().item(),
                "mean_row_norm": x.norm(dim=1).mean().item(),
                "n_ground_truth": 0 if ad.features is None else ad.features.shape[2],
                "mean_feature_norm": float("nan")
                if ad.features is None
                else ad.features[i].norm(dim=0).mean().item(),
            }
            rows.append(row)
    df = pd.DataFrame(rows)
    if parse_dataset(dataset)[0] == "sharkey":
        from randsae.config import stable_seed
        from randsae.toy.data import generate_sharkey

        active = {}
        for seed in range(n_seeds):
            sd = generate_sharkey(
                int(data["num_samples"]),
                int(data["num_inputs"]),
                int(data["num_features"]),
                float(data["avg_active_features"]),
                float(data["lambda_decay"]),
                stable_seed(int(common["seed"]), dataset, "data", seed),
            )
            active[seed] = (sd.coefficients > 0).float().sum(dim=1).mean().item()
        df["mean_active_features"] = df["seed"].map(active)
    _mkdirs(out_csv)
    df.to_csv(out_csv, index=False)
    log.info("data stats of %s: %d rows", dataset, len(df))
    return df


def make_toy_sweep(
    dataset: str,
    arm: str,
    n_latents: int,
    common: dict,
    data: dict,
    sae: dict,
    vectors: str | None,
    out_csv: str,
    device: str = "cpu",
) -> pd.DataFrame:
    """Train and test all (seed, L1 coefficient) SAEs of one (dataset, arm, size)."""
    seeds = list(range(int(sae["seeds"])))
    ad = _arm_data(dataset, check_arm(arm), seeds, common, data, vectors)
    log.info(
        "%s/%s/n%d: train %s, test %s",
        dataset,
        arm,
        n_latents,
        tuple(ad.train.shape),
        tuple(ad.test.shape),
    )
    df = run_sweep(
        ad,
        dataset=dataset,
        arm=arm,
        n_latents=int(n_latents),
        sae_cfg=sae,
        master_seed=int(common["seed"]),
        device=resolve_device(device),
    )
    _mkdirs(out_csv)
    df.to_csv(out_csv, index=False)
    log.info("wrote %d rows; mean train seconds per SAE %.3f", len(df), df["train_seconds"].mean())
    return df


def make_toy_summary(sweep_csvs: list[str], raw_csv: str, summary_csv: str) -> pd.DataFrame:
    """Concatenate the sweeps of a dataset and summarise over seeds (mean, std, s.e.m.)."""
    raw = pd.concat([pd.read_csv(p) for p in sweep_csvs], ignore_index=True)
    summary = summarize(raw, ["dataset", "arm", "n_latents", "l1_coef"])
    _mkdirs(raw_csv, summary_csv)
    raw.to_csv(raw_csv, index=False)
    summary.to_csv(summary_csv, index=False)
    return summary


def _figure_data(summary: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    for m in metrics:
        if m not in METRICS:
            raise ValueError(f"unknown metric {m!r}; expected one of {list(METRICS)}")
    cols = ["dataset", "arm", "n_latents", "l1_coef", "n_seeds"]
    cols += [f"{m}_{s}" for m in metrics for s in ("mean", "std", "sem")]
    return summary[cols]


def _order_arms(summary: pd.DataFrame) -> pd.DataFrame:
    order = {a: i for i, a in enumerate(ARMS)}
    return summary.sort_values(
        ["n_latents", "arm", "l1_coef"], key=lambda s: s.map(order) if s.name == "arm" else s
    )


def make_toy_figure_main(
    summary_csv: str, metrics: list[str], pdf: str, png: str, csv: str
) -> None:
    """Main-text style figure: metrics x dictionary sizes, one line per arm."""
    from randsae.toy.plotting import plot_main

    summary = _order_arms(pd.read_csv(summary_csv))
    data = _figure_data(summary, metrics)
    title = f"{summary['dataset'].iloc[0]}: metrics vs L1 coefficient (mean +- s.e.m. over seeds)"
    _save(plot_main(data, metrics, title), data, pdf, png, csv)


def make_toy_figure_grid(
    summary_csv: str, n_latents: int, metrics: list[str], pdf: str, png: str, csv: str
) -> None:
    """Appendix style figure of one dictionary size: a panel per metric, one line per arm."""
    from randsae.toy.plotting import plot_grid

    summary = _order_arms(pd.read_csv(summary_csv))
    sub = summary[summary["n_latents"] == int(n_latents)]
    if sub.empty:
        raise ValueError(f"n_latents {n_latents!r} is not in {summary_csv}")
    data = _figure_data(sub, metrics)
    title = f"{sub['dataset'].iloc[0]}, {n_latents} latents (mean +- s.e.m. over seeds)"
    _save(plot_grid(data, metrics, title), data, pdf, png, csv)


def make_word2vec_vectors(
    dim: int, seed: int, w2v: dict, max_words: int | None, npy: str, vocab: str
) -> None:
    """Offline substitute for GloVe: word2vec trained on gensim's test corpora."""
    from randsae.config import stable_seed
    from randsae.toy.words import save_vectors, tokenized_corpus, train_word2vec

    sentences = tokenized_corpus(w2v["max_wiki_articles"])
    log.info("corpus: %d documents, %d tokens", len(sentences), sum(map(len, sentences)))
    words, vecs = train_word2vec(
        sentences,
        dim=int(dim),
        seed=stable_seed(seed, "word2vec", dim) % 2**31,
        window=int(w2v["window"]),
        min_count=int(w2v["min_count"]),
        epochs=int(w2v["epochs"]),
        sg=int(w2v["sg"]),
    )
    if max_words is not None:
        words, vecs = words[: int(max_words)], vecs[: int(max_words)]
    _mkdirs(npy, vocab)
    save_vectors(words, vecs, npy, vocab)
    log.info("word2vec dim %d: %d words", dim, len(words))


def make_glove_vectors(
    zip_path: str, dim: int, max_words: int | None, npy: str, vocab: str
) -> None:
    """GloVe 6B vectors of one dim, extracted from the downloaded zip."""
    from randsae.toy.words import load_glove_from_zip, save_vectors

    words, vecs = load_glove_from_zip(zip_path, int(dim), max_words)
    _mkdirs(npy, vocab)
    save_vectors(words, vecs, npy, vocab)
    log.info("glove dim %d: %d words", dim, len(words))
