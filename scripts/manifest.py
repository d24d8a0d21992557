"""Rule manifest: every artifact with its rule, params digest, size and sha256."""

from randsae.runner import run
from randsae.tables import steps


def main(smk):
    run(
        steps.manifest,
        smk,
        artifacts=list(smk.input.artifacts),
        patterns=dict(smk.params.patterns),
        out_tsv=smk.output.manifest,
        persistence=smk.params.persistence,
    )


main(snakemake)  # noqa: F821
