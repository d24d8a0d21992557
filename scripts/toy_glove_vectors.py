"""Rule toy_glove_vectors: one dimension of GloVe 6B, extracted from the downloaded zip."""

from randsae.toy.steps import make_glove_vectors, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_glove_vectors(
        smk.input.zip,
        int(smk.wildcards.toy_dim),
        smk.params.max_words,
        smk.output.vectors,
        smk.output.vocab,
    )


main(snakemake)  # noqa: F821
