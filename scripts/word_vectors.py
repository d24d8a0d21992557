"""Rule word_vectors: offline GloVe substitute, word2vec trained on gensim's test corpora."""

from randsae.runner import run
from randsae.sections import Word2VecConfig
from randsae.toy import steps


def main(smk) -> None:
    run(
        steps.make_word2vec_vectors,
        smk,
        dim=int(smk.wildcards.toy_dim),
        seed=int(smk.params.seed),
        w2v=Word2VecConfig.from_dict(smk.params.word2vec),
        max_words=smk.params.max_words,
        npy=smk.output.vectors,
        vocab=smk.output.vocab,
    )


main(snakemake)  # noqa: F821
