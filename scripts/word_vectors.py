"""Rule word_vectors: offline GloVe substitute, word2vec trained on gensim's test corpora."""

from randsae.toy.steps import make_word2vec_vectors, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_word2vec_vectors(
        int(smk.wildcards.toy_dim),
        int(smk.params.seed),
        smk.params.word2vec,
        smk.params.max_words,
        smk.output.vectors,
        smk.output.vocab,
    )


main(snakemake)  # noqa: F821
