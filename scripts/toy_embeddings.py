"""Rule toy_embeddings: a model's token-embedding matrix as toy data (paper Section 4.3)."""

from randsae.toy.steps import make_toy_embeddings, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_toy_embeddings(
        smk.wildcards.toy_model,
        smk.params.source,
        smk.params.hf_name,
        smk.input.weights[0] if smk.input.weights else None,
        smk.output.vectors,
    )


main(snakemake)  # noqa: F821
