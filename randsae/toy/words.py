"""Word vectors for the toy sweep: GloVe 6B (paper, online) or an in-DAG word2vec substitute.

The offline substitute trains gensim word2vec on the text that ships with gensim's test
data: the Lee background news corpus and the shortened English Wikipedia dump sample.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from randsae.io import sha256_file, write_json


def tokenized_corpus(max_wiki_articles: int | None = None) -> list[list[str]]:
    """Lower-cased, de-accented tokens (gensim ``simple_preprocess``) of each document."""
    from gensim.utils import simple_preprocess

    from randsae.data.corpus import gensim_documents

    docs, _ = gensim_documents(max_wiki_articles)
    return [t for t in (simple_preprocess(d["text"]) for d in docs) if t]


def _stable_hash(text: str) -> int:
    """Word2vec's per-word init hash; gensim's default (``hash``) is salted per process."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def train_word2vec(
    sentences: list[list[str]],
    *,
    dim: int,
    seed: int,
    window: int,
    min_count: int,
    epochs: int,
    sg: int,
) -> tuple[list[str], np.ndarray]:
    """Train word2vec with one worker (deterministic) and return (words, vectors (V, dim))."""
    from gensim.models import Word2Vec

    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim!r}")
    model = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=window,
        min_count=min_count,
        epochs=epochs,
        sg=sg,
        seed=seed,
        workers=1,
        hashfxn=_stable_hash,
    )
    words = list(model.wv.index_to_key)
    return words, np.asarray(model.wv.vectors, dtype=np.float32)


def save_vectors(words: list[str], vectors: np.ndarray, npy_path: str, vocab_path: str) -> None:
    """Write vectors as .npy and the vocabulary one word per line."""
    np.save(npy_path, vectors.astype(np.float32))
    Path(vocab_path).write_text("\n".join(words) + "\n", encoding="utf-8")


def load_glove_from_zip(
    zip_path: str, dim: int, max_words: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Read ``glove.6B.{dim}d.txt`` from the GloVe 6B zip (first ``max_words`` rows, or all)."""
    member = f"glove.6B.{dim}d.txt"
    words, rows = [], []
    with zipfile.ZipFile(zip_path) as zf:
        if member not in zf.namelist():
            raise ValueError(f"dim {dim!r}: {member} is not in {zip_path}")
        with zf.open(member) as raw:
            for line in io.TextIOWrapper(raw, encoding="utf-8"):
                if max_words is not None and len(words) >= max_words:
                    break
                parts = line.rstrip().split(" ")
                words.append(parts[0])
                rows.append(np.asarray(parts[1:], dtype=np.float32))
    return words, np.stack(rows)


def download_glove(url: str, out_path: str, sha256: str | None, record_path: str) -> str:
    """Download ``url`` to ``out_path`` and verify its sha256.

    With ``sha256`` set (the config value), a mismatch deletes the file and raises. With it
    null, the computed checksum is recorded in ``record_path`` (JSON) so it can be pinned.
    """
    tmp = out_path + ".part"
    with urllib.request.urlopen(url) as resp, open(tmp, "wb") as fh:
        shutil.copyfileobj(resp, fh)
    digest = sha256_file(tmp)
    if sha256 and digest.lower() != sha256.lower():
        Path(tmp).unlink()
        raise ValueError(f"glove.sha256 mismatch for {url}: expected {sha256}, got {digest}")
    Path(tmp).replace(out_path)
    record = {"url": url, "sha256": digest, "pinned": bool(sha256)}
    write_json(record_path, record, indent=2)
    return digest
