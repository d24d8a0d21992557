"""Corpus, tokenizer and token streams. Run: pytest tests/test_corpus.py"""

from __future__ import annotations

import numpy as np
import pytest

from randsae.data.corpus import (
    gensim_documents,
    sequences,
    split_documents,
    tokenize_texts,
    unigram_cross_entropy,
)
from randsae.data.tokenizer import load_tokenizer, token_strings, train_bpe


@pytest.fixture(scope="module")
def docs():
    return gensim_documents()


def test_gensim_corpus_is_real_text(docs):
    documents, hashes = docs
    assert len(documents) > 300  # ~107 wiki articles + 300 Lee documents
    text = " ".join(d["text"] for d in documents)
    assert len(text) > 2_000_000
    assert " the " in text and "''" not in text[:100000]
    assert all(len(h) == 64 for h in hashes.values())


def test_gensim_documents_wiki_limit(docs):
    """The toy word2vec corpus reads the same documents, stopping after N wiki pages."""
    few, hashes = gensim_documents(max_wiki_articles=3)
    wiki = [d for d in few if d["id"].startswith("wiki:")]
    assert 1 <= len(wiki) <= 3 and hashes == docs[1]
    assert [d["id"] for d in few if d["id"].startswith("lee:")] == [
        d["id"] for d in docs[0] if d["id"].startswith("lee:")
    ]
    assert wiki == [d for d in docs[0] if d["id"].startswith("wiki:")][: len(wiki)]


def test_split_is_seeded_and_disjoint(docs):
    documents, _ = docs
    a_train, a_val = split_documents(documents, 0.1, 1)
    b_train, b_val = split_documents(documents, 0.1, 1)
    c_train, c_val = split_documents(documents, 0.1, 2)
    assert [d["id"] for d in a_val] == [d["id"] for d in b_val]
    assert [d["id"] for d in a_val] != [d["id"] for d in c_val]
    assert not {d["id"] for d in a_train} & {d["id"] for d in a_val}
    assert len(a_train) + len(a_val) == len(documents)
    with pytest.raises(ValueError, match="val_fraction"):
        split_documents(documents, 1.5, 1)


def test_bpe_roundtrip_and_readable_strings(tmp_path, docs):
    documents, _ = docs
    info = train_bpe((d["text"] for d in documents[:50]), 512, tmp_path / "tok")
    assert info["vocab_size"] == 512 and info["eos_id"] == 0
    tok = load_tokenizer(tmp_path / "tok")
    ids = tok.encode("The quick brown fox", add_special_tokens=False)
    assert tok.decode(ids) == "The quick brown fox"
    strings = token_strings(tok, ids)
    assert "".join(strings) == "The quick brown fox"
    assert not any("Ġ" in s for s in strings)
    stream = tokenize_texts(["a b", "c d"], tok, info["eos_id"])
    assert stream.dtype == np.int32 and stream[0] == 0 and (stream == 0).sum() == 2


def test_sequences_and_unigram():
    s = np.arange(10, dtype=np.int32)
    assert sequences(s, 3).shape == (3, 3)
    assert sequences(s, 3, n_tokens=6).tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError):
        sequences(s[:2], 3)
    train = np.array([0, 0, 1, 1], dtype=np.int32)
    # add-one smoothing over vocab 2: p = 0.5 each → ln 2
    assert unigram_cross_entropy(train, np.array([0, 1]), 2) == pytest.approx(np.log(2))
