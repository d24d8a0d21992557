"""One function per toy rule: read inputs, call the toy modules, write outputs.

The ``scripts/`` adapters only unpack Snakemake's ``input/output/params`` into these calls.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from randsae.sections import SharkeyData, ToySAEConfig, TwoDConfig, Word2VecConfig
from randsae.toy import ARMS, METRICS
from randsae.toy.metrics import summarize

# torch is imported inside the functions that train or generate data, so that the summary and
# figure jobs (pandas + matplotlib only) start quickly.

log = logging.getLogger("randsae.toy")


def _mkdirs(*paths: str) -> None:
    for p in paths:
        Path(p).parent.mkdir(parents=True, exist_ok=True)


def _atomic_csv(df: pd.DataFrame, path: str) -> None:
    """Write ``df`` to ``path`` through a temporary file and an atomic rename."""
    _mkdirs(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def make_toy_2d(seed: int, two_d: TwoDConfig, pdf: str, png: str, csv: str) -> None:
    """The 2-D illustration figure and its CSV (all four panels, long format)."""
    from randsae.toy.illustration import illustration_2d, long_table
    from randsae.toy.plotting import plot_2d, save_figure

    panels = illustration_2d(
        seed=seed, num_samples=two_d.num_samples, hidden_expansion=two_d.hidden_expansion
    )
    save_figure(plot_2d(panels, float(two_d.lim)), long_table(panels), pdf, png, csv)
    log.info("2-D illustration: %d samples", two_d.num_samples)


def make_toy_data_stats(
    dataset: str,
    arms: list[str],
    n_seeds: int,
    seed: int,
    test_fraction: float,
    ffn_expansion: int,
    sharkey: SharkeyData | None,
    gaussian_num_samples: int | None,
    vectors: str | None,
    out_csv: str,
) -> pd.DataFrame:
    """Descriptive statistics of every (arm, seed) dataset (randsae.toy.stats.data_stats)."""
    from randsae.toy.stats import data_stats
    from randsae.toy.train import ToyData

    data = ToyData(seed, test_fraction, ffn_expansion, sharkey, gaussian_num_samples)
    df = data_stats(dataset, arms, n_seeds, data, vectors)
    _atomic_csv(df, out_csv)
    log.info("data stats of %s: %d rows", dataset, len(df))
    return df


def make_toy_sweep(
    dataset: str,
    arms: list[str],
    n_latents: int,
    seed: int,
    test_fraction: float,
    ffn_expansion: int,
    sharkey: SharkeyData | None,
    gaussian_num_samples: int | None,
    sae: ToySAEConfig,
    vectors: str | None,
    out_csv: str,
    device: str = "cpu",
) -> pd.DataFrame:
    """Train and test all (arm, seed, L1 coefficient) SAEs of one (dataset, dictionary size).

    One job per (dataset, size) holds every arm: the arms of a seed share their base data, and
    every (arm, seed, coefficient) SAE trains in one vectorised stack (``models_per_batch``).
    """
    from randsae.models.neox import resolve_device
    from randsae.toy.stats import arm_data
    from randsae.toy.train import ToyData, check_arm, run_sweep_arms

    data = ToyData(seed, test_fraction, ffn_expansion, sharkey, gaussian_num_samples)
    seeds = list(range(sae.seeds))
    datas = {}
    for arm in arms:
        datas[arm] = ad = arm_data(dataset, check_arm(arm), seeds, data, vectors)
        log.info(
            "%s/%s/n%d: train %s, test %s",
            dataset,
            arm,
            n_latents,
            tuple(ad.train.shape),
            tuple(ad.test.shape),
        )
    out = run_sweep_arms(
        datas,
        dataset=dataset,
        n_latents=int(n_latents),
        sae_cfg=sae,
        master_seed=data.seed,
        device=resolve_device(device),
    )
    log.info("mean train seconds per SAE %.3f", out["train_seconds"].mean())
    _atomic_csv(out, out_csv)
    log.info("wrote %d rows to %s", len(out), out_csv)
    return out


def make_toy_summary(sweep_csvs: list[str], raw_csv: str, summary_csv: str) -> pd.DataFrame:
    """Concatenate the sweeps of a dataset and summarise over seeds (mean, std, s.e.m.)."""
    raw = pd.concat([pd.read_csv(p) for p in sweep_csvs], ignore_index=True)
    summary = summarize(raw, ["dataset", "arm", "n_latents", "l1_coef"])
    _atomic_csv(raw, raw_csv)
    _atomic_csv(summary, summary_csv)
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


def make_toy_fig4(summary_csv: str, pdf: str, png: str, csv: str) -> pd.DataFrame:
    """Fig 4: MMCS of the decoder with the ground-truth features vs the L1 coefficient on the
    superposed data (plain arm), one line per dictionary size, mean +- std over seeds, with the
    one-direction baseline. The random-MLP arm is not drawn: its pushed-through features are
    nearly parallel, so one direction (the data mean) already scores about 0.87 and its MMCS
    does not measure recovery (docs/toy.md); its values stay in the summary CSV."""
    from randsae.toy.plotting import plot_fig4, save_figure

    summary = _order_arms(pd.read_csv(summary_csv))
    data = summary[summary["mmcs_mean"].notna()]
    if data.empty:
        raise ValueError(f"{summary_csv}: no arm with ground-truth features (MMCS)")
    cols = ["dataset", "arm", "n_latents", "l1_coef", "n_seeds", "mmcs_mean", "mmcs_std"]
    cols += [c for c in ("mmcs_sem", "mmcs_baseline_mean", "mmcs_baseline_std") if c in data]
    data = data[data["arm"] == "plain"][cols].reset_index(drop=True)
    if data.empty:
        raise ValueError(f"{summary_csv}: no plain arm (Fig 4 is MMCS on the superposed data)")
    save_figure(plot_fig4(data), data, pdf, png, csv)
    best = data.loc[data["mmcs_mean"].idxmax()]
    log.info(
        "best MMCS %.3f (%s, %d latents, L1 %.3g)",
        best["mmcs_mean"],
        best["arm"],
        int(best["n_latents"]),
        best["l1_coef"],
    )
    return data


def make_toy_frontiers(summary_csv: str, pdf: str, png: str, csv: str) -> pd.DataFrame:
    """Figs 22-25 (synthetic data) / 26-29 (word vectors) / Section 4.3 (embedding matrices):
    explained variance vs L0, L1, L1/sqrt(L2) and Hoyer, Pareto frontiers per arm; rows =
    dictionary sizes."""
    from randsae.toy.frontier import frontier_table
    from randsae.toy.plotting import plot_frontiers, save_figure

    summary = _order_arms(pd.read_csv(summary_csv))
    table = frontier_table(summary)
    title = f"{summary['dataset'].iloc[0]}: explained variance vs sparsity (Pareto frontiers)"
    save_figure(plot_frontiers(table, title), table, pdf, png, csv)
    return table


def make_toy_fig5(summary_csvs: list[str], pdf: str, png: str, csv: str) -> pd.DataFrame:
    """Fig 5: explained variance vs L0 frontiers, a panel per dataset (a: synthetic data,
    b: word vectors, then the token-embedding matrices of Section 4.3), each at its largest
    dictionary size."""
    from randsae.toy.frontier import frontier_table
    from randsae.toy.plotting import plot_fig5, save_figure

    tables = []
    for path in summary_csvs:
        summary = pd.read_csv(path)
        largest = summary["n_latents"].max()
        tables.append(frontier_table(summary[summary["n_latents"] == largest], ["l0"]))
    table = pd.concat(tables, ignore_index=True)
    save_figure(plot_fig5(table), table, pdf, png, csv)
    return table


def make_toy_figure_grid(
    summary_csv: str, n_latents: int, metrics: list[str], pdf: str, png: str, csv: str
) -> None:
    """Appendix style figure of one dictionary size: a panel per metric, one line per arm."""
    from randsae.toy.plotting import plot_grid, save_figure

    summary = _order_arms(pd.read_csv(summary_csv))
    sub = summary[summary["n_latents"] == int(n_latents)]
    if sub.empty:
        raise ValueError(f"n_latents {n_latents!r} is not in {summary_csv}")
    data = _figure_data(sub, metrics)
    title = f"{sub['dataset'].iloc[0]}, {n_latents} latents (mean +- s.e.m. over seeds)"
    save_figure(plot_grid(data, metrics, title), data, pdf, png, csv)


def make_word2vec_vectors(
    dim: int, seed: int, w2v: Word2VecConfig, max_words: int | None, npy: str, vocab: str
) -> None:
    """Offline substitute for GloVe: word2vec trained on gensim's test corpora."""
    from randsae.seeds import stable_seed
    from randsae.toy.words import save_vectors, tokenized_corpus, train_word2vec

    sentences = tokenized_corpus(w2v.max_wiki_articles)
    log.info("corpus: %d documents, %d tokens", len(sentences), sum(map(len, sentences)))
    words, vecs = train_word2vec(
        sentences,
        dim=int(dim),
        seed=stable_seed(seed, "word2vec", dim) % 2**31,
        window=w2v.window,
        min_count=w2v.min_count,
        epochs=w2v.epochs,
        sg=w2v.sg,
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


def make_toy_embeddings(
    model: str, source: str, hf_name: str | None, weights: str | None, npy: str
) -> np.ndarray:
    """Token-embedding matrix of ``model`` as toy data (rows = tokens), saved as .npy.

    ``source`` embedded: W_E of the model trained in the DAG (``weights``); pythia: the Hub
    model ``hf_name`` through ``from_pretrained``.
    """
    from randsae.toy.embeddings import embedded_input_embeddings, hf_input_embeddings

    if source == "embedded":
        if not weights:
            raise ValueError(f"toy.embeddings.models: {model!r} needs its trained weights file")
        w_e = embedded_input_embeddings(weights)
    elif source == "pythia":
        if not hf_name:
            raise ValueError(f"models.{model}.hf_name is required for its embedding matrix")
        w_e = hf_input_embeddings(hf_name)
    else:
        raise ValueError(f"models.{model}.source: unknown source {source!r}")
    _mkdirs(npy)
    tmp = f"{npy}.tmp-{os.getpid()}.npy"
    np.save(tmp, w_e.astype(np.float32))
    os.replace(tmp, npy)
    log.info("%s: embedding matrix %s (%s)", model, w_e.shape, source)
    return w_e
