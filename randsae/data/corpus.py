"""Text corpus and token streams.

Offline default: the Wikipedia sample and the Lee news corpus that ship inside gensim's test data
(no network). Online: a Hugging Face dataset (the paper used the RedPajama 1T sample).
"""

from __future__ import annotations

import bz2
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from randsae.io import sha256_file

if TYPE_CHECKING:
    from randsae.sections import HFDatasetConfig

log = logging.getLogger("randsae")

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"


def gensim_documents(
    max_wiki_articles: int | None = None,
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Documents of gensim's Wikipedia sample + Lee corpus, and the sha256 of their source files.

    The one reader of gensim's test text (the LM corpus and the toy word2vec corpus);
    ``max_wiki_articles`` stops after that many main-namespace wiki pages.
    """
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki
    from gensim.test.utils import datapath

    docs: list[dict[str, str]] = []
    wiki = datapath(WIKI_FILE)
    with bz2.BZ2File(wiki) as fh:
        for i, (title, text, _pageid) in enumerate(extract_pages(fh, filter_namespaces=("0",))):
            if max_wiki_articles is not None and i >= max_wiki_articles:
                break
            if text.lstrip().lower().startswith("#redirect"):
                continue
            clean = filter_wiki(text)
            clean = re.sub(r"'{2,}", "", clean)
            clean = re.sub(r"\n{3,}", "\n\n", clean).strip()
            if clean:
                docs.append({"id": f"wiki:{title}", "text": clean})
    lee = datapath(LEE_FILE)
    with open(lee, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh):
            line = line.strip()
            if line:
                docs.append({"id": f"lee:{i}", "text": line})
    return docs, {WIKI_FILE: sha256_file(wiki), LEE_FILE: sha256_file(lee)}


def split_documents(
    docs: list[dict[str, str]], val_fraction: float, seed: int
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Seeded document-level train/val split (at least one document on each side)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
    if len(docs) < 2:
        raise ValueError("the corpus needs at least two documents to split")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(docs))
    n_val = min(max(1, round(val_fraction * len(docs))), len(docs) - 1)
    val_idx = set(order[:n_val].tolist())
    train = [d for i, d in enumerate(docs) if i not in val_idx]
    val = [d for i, d in enumerate(docs) if i in val_idx]
    return train, val


def write_jsonl(docs: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write one JSON object per line; returns the count."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_texts(path: str | Path) -> Iterator[str]:
    """Texts of a JSONL corpus file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)["text"]


def hf_dataset_texts(ds_cfg: HFDatasetConfig, split: str) -> Iterator[str]:
    """Texts of an online Hugging Face dataset split (``split``: a split expression such as the
    paper's ``train[:12%]``; ``ds_cfg.train_split`` or ``ds_cfg.val_split``).

    ``loader: jsonl_files`` reads the repo's jsonl files through the Hub without running its
    loading script (see :func:`hub_jsonl_rows`); ``loader: datasets`` calls ``load_dataset``.
    """
    if ds_cfg.loader == "jsonl_files":
        rows = hub_jsonl_rows(ds_cfg.path, list(ds_cfg.data_files), split, ds_cfg.revision)
        for row in rows:
            yield row[ds_cfg.text_key]
        return
    import datasets

    from randsae.hub import hub_call

    with hub_call(f"dataset {ds_cfg.path}@{ds_cfg.revision}"):
        ds = datasets.load_dataset(ds_cfg.path, ds_cfg.name, split=split, revision=ds_cfg.revision)
    for row in ds:
        yield row[ds_cfg.text_key]


def hub_dataset_files(repo_id: str, files: list[str], revision: str) -> tuple[str, list[Path]]:
    """Resolve ``revision`` to a commit and download ``files`` of that commit (HF cache).

    Every file comes from the same commit even if the branch moves meanwhile. The token, if any,
    is read by ``huggingface_hub`` from ``HF_TOKEN``/its login; none is needed for public repos.
    With ``HF_HUB_OFFLINE=1`` the files come from the cache of an earlier download.
    """
    from huggingface_hub import HfApi, constants, hf_hub_download

    from randsae.hub import hub_call

    with hub_call(f"dataset {repo_id}@{revision}"):
        if constants.HF_HUB_OFFLINE:  # HF_HUB_OFFLINE=1: the cache maps the revision to its commit
            paths = [
                Path(hf_hub_download(repo_id, f, repo_type="dataset", revision=revision))
                for f in files
            ]
            commit = paths[0].parent.name  # .../snapshots/{commit}/{file}
        else:
            commit = HfApi().dataset_info(repo_id, revision=revision).sha
            paths = [
                Path(hf_hub_download(repo_id, f, repo_type="dataset", revision=commit))
                for f in files
            ]
    log.info("dataset %s@%s (%s): %d files", repo_id, revision, commit, len(paths))
    return commit, paths


def _jsonl_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line


def split_range(split: str, n_rows: int) -> tuple[int, int]:
    """Row range [start, stop) of a slice of the one ``train`` split (``train[:12%]``), with
    ``datasets``' own rounding (``datasets.ReadInstruction``, as ``load_dataset(split=...)``)."""
    import datasets

    try:
        (instr,) = datasets.ReadInstruction.from_spec(split).to_absolute({"train": n_rows})
    except (ValueError, KeyError, AssertionError) as err:
        raise ValueError(
            f"data.hf_dataset: split {split!r} must be one slice of the 'train' split ({err})"
        ) from err
    return instr.from_, instr.to


def hub_jsonl_rows(
    repo_id: str, files: list[str], split: str, revision: str
) -> Iterator[dict[str, Any]]:
    """Rows ``split`` (e.g. ``train[:12%]``) of a dataset whose loading script concatenates
    ``files`` (one JSON object per line) into one ``train`` split.

    This is what the RedPajama sample's script does; ``datasets`` 5.x no longer runs scripts, so
    the files are read directly, in the script's order, and the slice is resolved by
    ``datasets.ReadInstruction`` (the same percent rounding as ``load_dataset(split=...)``).
    """
    _commit, paths = hub_dataset_files(repo_id, files, revision)
    counts = [sum(1 for _ in _jsonl_lines(p)) for p in paths]
    n_rows = sum(counts)
    start, stop = split_range(split, n_rows)
    log.info("split %s: rows %d..%d of %d", split, start, stop, n_rows)
    offset = 0
    for path, count in zip(paths, counts, strict=True):
        if offset + count <= start:
            offset += count
            continue
        if offset >= stop:
            return
        for i, line in enumerate(_jsonl_lines(path), start=offset):
            if i >= stop:
                return
            if i >= start:
                yield json.loads(line)
        offset += count


def tokenize_texts(
    texts: Iterable[str], tokenizer: Any, eos_id: int, max_tokens: int | None = None
) -> np.ndarray:
    """Concatenate documents into one int32 stream, each document preceded by EOS.

    Sequences are cut from this stream downstream (:func:`sequences`), so only the first one
    starts with EOS; the others start wherever the cut falls, often mid-document, and have no
    BOS (``eval.ignore_positions: [0]`` leaves their first position out of the metrics).
    sparsify's ``chunk_and_tokenize`` (eai-sparsify 1.3.3, the SAE trainer the paper's code is
    based on) behaves alike: for each ``datasets.map`` batch of 2,048 documents it joins the texts
    with EOS, starting with one, tokenizes the joined string and cuts it into ``max_seq_len``
    chunks (``return_overflowing_tokens``), so only the first chunk of a batch starts with EOS;
    unlike here, it also drops each batch's last, partial chunk.
    """
    out: list[np.ndarray] = []
    total = 0
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        arr = np.asarray([eos_id, *ids], dtype=np.int32)
        out.append(arr)
        total += len(arr)
        if max_tokens is not None and total >= max_tokens:
            break
    if not out:
        raise ValueError("no text to tokenize")
    stream = np.concatenate(out)
    return stream[:max_tokens] if max_tokens is not None else stream


def unigram_cross_entropy(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats) of ``val`` under the add-one-smoothed unigram distribution of ``train``."""
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[val].mean())


def sequences(stream: np.ndarray, context_size: int, n_tokens: int | None = None) -> np.ndarray:
    """Cut a token stream into (n_seq, context_size) rows, truncating the remainder."""
    if n_tokens is not None:
        stream = stream[:n_tokens]
    n_seq = len(stream) // context_size
    if n_seq == 0:
        raise ValueError(f"{len(stream)} tokens are fewer than one context of {context_size}")
    return np.ascontiguousarray(stream[: n_seq * context_size].reshape(n_seq, context_size))
