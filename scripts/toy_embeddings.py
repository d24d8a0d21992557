"""Rule toy_embeddings: a model's token-embedding matrix as toy data (paper Section 4.3)."""

from randsae.runner import run
from randsae.toy import steps


def main(smk) -> None:
    run(
        steps.make_toy_embeddings,
        smk,
        model=smk.wildcards.toy_model,
        source=smk.params.source,
        hf_name=smk.params.hf_name,
        weights=smk.input.weights[0] if smk.input.weights else None,
        npy=smk.output.vectors,
    )


main(snakemake)  # noqa: F821
