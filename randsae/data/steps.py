"""Stage glue for rules/data.smk: corpus, tokenizer, token ids."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from randsae import provenance
from randsae.seeds import stable_seed

if TYPE_CHECKING:
    from randsae.sections import DataConfig

log = logging.getLogger("randsae")


def corpus(out_train: str, out_val: str, out_meta: str, data: DataConfig, seed: int) -> None:
    from randsae.data.corpus import gensim_documents, split_documents, write_jsonl

    params = {"data": data.to_dict()}
    if data.source != "gensim":
        # Online datasets are streamed at tokenization time; the corpus files record that.
        write_jsonl([], out_train)
        write_jsonl([], out_val)
        provenance.write_meta(out_meta, "corpus", params=params, source=data.source)
        return
    docs, hashes = gensim_documents()
    train, val = split_documents(docs, data.val_fraction, stable_seed(seed, "corpus-split"))
    n_train, n_val = write_jsonl(train, out_train), write_jsonl(val, out_val)
    chars = sum(len(d["text"]) for d in docs)
    log.info("corpus: %d train / %d val documents, %d characters", n_train, n_val, chars)
    provenance.write_meta(
        out_meta,
        "corpus",
        params={**params, "seed": seed},
        n_train_docs=n_train,
        n_val_docs=n_val,
        n_chars=chars,
        source_sha256=hashes,
    )


def tokenizer(corpus_train: str, out_dir: str, vocab_size: int) -> None:
    from randsae.data.corpus import read_texts
    from randsae.data.tokenizer import train_bpe

    info = train_bpe(read_texts(corpus_train), vocab_size, out_dir)
    log.info("tokenizer: %s", info)
    provenance.write_meta(
        Path(out_dir) / "meta.json", "tokenizer", params={"vocab_size": vocab_size}, **info
    )


def tokenize(
    tokenizer: str,
    data: DataConfig,
    corpus_train: str,
    corpus_val: str,
    out_train: str,
    out_val: str,
) -> None:
    """Token ids of the corpus (gensim) or of the online dataset's splits (hf_dataset, the
    training split capped at ``data.hf_dataset.max_train_tokens``), with ``tokenizer`` (the
    DAG's BPE directory or a Pythia model's hub name)."""
    from randsae.data.corpus import hf_dataset_texts, read_texts, tokenize_texts
    from randsae.data.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer)
    eos = tok.eos_token_id
    max_train_tokens = None
    if data.source == "gensim":
        train_texts, val_texts = read_texts(corpus_train), read_texts(corpus_val)
    else:
        ds = data.hf_dataset
        train_texts = hf_dataset_texts(ds, ds.train_split)
        val_texts = hf_dataset_texts(ds, ds.val_split)
        max_train_tokens = ds.max_train_tokens
    train = tokenize_texts(train_texts, tok, eos, max_train_tokens)
    val = tokenize_texts(val_texts, tok, eos, None)
    Path(out_train).parent.mkdir(parents=True, exist_ok=True)
    np.save(out_train, train)
    np.save(out_val, val)
    log.info("tokens: %d train, %d val", len(train), len(val))
