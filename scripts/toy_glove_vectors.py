"""Rule toy_glove_vectors: one dimension of GloVe 6B, extracted from the downloaded zip."""

from randsae.runner import run
from randsae.toy import steps


def main(smk):
    run(
        steps.make_glove_vectors,
        smk,
        zip_path=smk.input.zip,
        dim=int(smk.wildcards.toy_dim),
        max_words=smk.params.max_words,
        npy=smk.output.vectors,
        vocab=smk.output.vocab,
    )


main(snakemake)  # noqa: F821
