"""Tests of the toy part's I/O: word vectors, GloVe zip + checksum, summary and figures.

Run: pytest tests/test_toy_io.py -q (about 10 s; no network: downloads use file:// URLs).
"""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from randsae.toy.steps import (
    make_toy_fig4,
    make_toy_fig5,
    make_toy_figure_grid,
    make_toy_frontiers,
    make_toy_summary,
)
from randsae.toy.words import (
    download_glove,
    load_glove_from_zip,
    sha256_file,
    tokenized_corpus,
    train_word2vec,
)

torch.set_num_threads(1)


def test_word2vec_is_deterministic():
    sentences = [
        ["the", "cat", "sat", "on", "the", "mat"],
        ["the", "dog", "sat", "on", "the", "log"],
    ] * 20
    kw = dict(dim=8, seed=3, window=2, min_count=1, epochs=2, sg=0)
    words, vecs = train_word2vec(sentences, **kw)
    words2, vecs2 = train_word2vec(sentences, **kw)
    assert words == words2 and words[0] == "the"  # most frequent first
    assert vecs.shape == (len(words), 8) and vecs.dtype == np.float32
    np.testing.assert_array_equal(vecs, vecs2)
    with pytest.raises(ValueError, match="dim"):
        train_word2vec(sentences, **dict(kw, dim=0))


def test_gensim_test_corpus_is_read():
    docs = tokenized_corpus(max_wiki_articles=3)
    assert len(docs) > 300  # the Lee background corpus has 300 documents
    assert all(isinstance(t, str) and t == t.lower() for t in docs[0])


def _fake_glove_zip(path, dim=50, n=4):
    rows = [f"w{i} " + " ".join(f"{(i + j) / 10:.1f}" for j in range(dim)) for i in range(n)]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"glove.6B.{dim}d.txt", "\n".join(rows) + "\n")


def test_load_glove_from_zip(tmp_path):
    zpath = tmp_path / "glove.6B.zip"
    _fake_glove_zip(zpath)
    words, vecs = load_glove_from_zip(str(zpath), 50, max_words=3)
    assert words == ["w0", "w1", "w2"] and vecs.shape == (3, 50)
    assert vecs[2, 1] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="100"):
        load_glove_from_zip(str(zpath), 100)


def test_download_glove_checks_and_records_sha256(tmp_path):
    src = tmp_path / "src.zip"
    _fake_glove_zip(src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert sha256_file(str(src)) == digest
    out, rec = tmp_path / "out.zip", tmp_path / "rec.json"
    # Unpinned: the checksum is recorded so it can be copied into the config.
    assert download_glove(src.as_uri(), str(out), None, str(rec)) == digest
    assert json.loads(rec.read_text()) == {"url": src.as_uri(), "sha256": digest, "pinned": False}
    # Pinned and correct: accepted.
    download_glove(src.as_uri(), str(out), digest, str(rec))
    assert json.loads(rec.read_text())["pinned"] is True
    # Pinned and wrong: rejected, nothing left behind.
    out.unlink()
    with pytest.raises(ValueError, match="sha256"):
        download_glove(src.as_uri(), str(out), "0" * 64, str(rec))
    assert not out.exists() and not (tmp_path / "out.zip.part").exists()


def _sweep_frame(arm, n, seed):
    coefs = [1e-3, 1e-2]
    return pd.DataFrame(
        {
            "dataset": "sharkey",
            "arm": arm,
            "n_latents": n,
            "seed": seed,
            "l1_coef": coefs,
            "mse": [0.1 + seed, 0.2],
            "fvu": [0.3, 0.4],
            "l0": [10.0, 2.0],
            "l1": [1.0, 0.5],
            "l2": [0.5, 0.3],
            "l1_over_sqrt_l2": [1.4, 0.9],
            "hoyer": [0.5, 0.8],
            "mmcs": [0.6, 0.9] if arm == "plain" else [np.nan, np.nan],
            "train_seconds": 0.1,
        }
    )


def test_summary_and_figures_write_outputs(tmp_path):
    paths = []
    for arm in ("plain", "gaussian"):
        for seed in (0, 1):
            p = tmp_path / f"{arm}_{seed}.csv"
            _sweep_frame(arm, 64, seed).to_csv(p, index=False)
            paths.append(str(p))
    raw, summ = tmp_path / "raw.csv", tmp_path / "summary.csv"
    summary = make_toy_summary(paths, str(raw), str(summ))
    row = summary[(summary.arm == "plain") & (summary.l1_coef == 1e-3)].iloc[0]
    assert row["mse_mean"] == pytest.approx(0.6) and row["n_seeds"] == 2
    assert np.isnan(summary[summary.arm == "gaussian"]["mmcs_mean"]).all()
    stem = tmp_path / "fig" / "fig4"
    fig4 = make_toy_fig4(str(summ), f"{stem}.pdf", f"{stem}.png", f"{stem}.csv")
    # only the arm with ground truth is drawn; the CSV is what the figure shows
    assert set(fig4["arm"]) == {"plain"} and len(fig4) == 2
    assert pd.read_csv(f"{stem}.csv")["mmcs_mean"].tolist() == pytest.approx([0.6, 0.9])
    assert (tmp_path / "fig" / "fig4.pdf").stat().st_size > 0
    front = tmp_path / "fig" / "frontiers"
    table = make_toy_frontiers(str(summ), f"{front}.pdf", f"{front}.png", f"{front}.csv")
    assert set(table["measure"]) == {"l0", "l1", "l1_over_sqrt_l2", "hoyer"}
    assert table.groupby(["arm", "measure"])["on_frontier"].any().all()
    assert (tmp_path / "fig" / "frontiers.png").stat().st_size > 0
    fig5 = tmp_path / "fig" / "fig5"
    t5 = make_toy_fig5([str(summ), str(summ)], f"{fig5}.pdf", f"{fig5}.png", f"{fig5}.csv")
    assert set(t5["measure"]) == {"l0"} and len(t5) == 8  # 2 panels x 2 arms x 2 coefficients
    grid = tmp_path / "fig" / "grid"
    make_toy_figure_grid(
        str(summ), 64, ["mse", "hoyer"], f"{grid}.pdf", f"{grid}.png", f"{grid}.csv"
    )
    assert (tmp_path / "fig" / "grid.png").stat().st_size > 0
    with pytest.raises(ValueError, match="128"):
        make_toy_figure_grid(str(summ), 128, ["mse"], f"{grid}.pdf", f"{grid}.png", f"{grid}.csv")
    with pytest.raises(ValueError, match="bogus"):
        make_toy_figure_grid(str(summ), 64, ["bogus"], f"{grid}.pdf", f"{grid}.png", f"{grid}.csv")
    gauss_only = tmp_path / "gauss.csv"
    summary[summary.arm == "gaussian"].to_csv(gauss_only, index=False)
    with pytest.raises(ValueError, match="MMCS"):
        make_toy_fig4(str(gauss_only), f"{stem}.pdf", f"{stem}.png", f"{stem}.csv")


def _toy_dry_run(tmp_path, configfile):
    """Toy job counts of `snakemake -n` for the toy figures of ``configfile`` (no downloads)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from dagtools import job_stats

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("ANTHROPIC_API_KEY", None)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "-d", str(tmp_path)]
    cmd += ["-n", "--cores", "1", "--configfile", str(root / configfile)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return job_stats(proc.stdout + proc.stderr)


@pytest.mark.slow  # two DAG builds, ~20-40 s
def test_toy_dag_default_and_paper(tmp_path):
    default = _toy_dry_run(tmp_path / "default", "config.yaml")
    # default: sharkey, word2vec50, embed_tiny-neox; one sweep per (dataset, size), all arms
    assert default["toy_sweep"] == 3 and default["toy_summary"] == 3
    assert default["toy_frontiers"] == 3 and default["toy_embeddings"] == 1
    assert default["toy_fig4"] == default["toy_fig5"] == default["toy_2d"] == 1
    assert default["word_vectors"] == 1 and "toy_figure_grid" not in default
    paper = _toy_dry_run(tmp_path / "paper", "configs/paper.yaml")
    # paper: 4 sharkey sizes + 4 GloVe dims x 4 + 3 Pythia embedding matrices x 4
    assert paper["toy_sweep"] == 32 and paper["toy_figure_grid"] == 32
    assert paper["toy_embeddings"] == 3 and paper["toy_glove_vectors"] == 4
    assert paper["toy_frontiers"] == 8 and paper["glove_download"] == 1
