"""Rule publish: upload the finished run to publish.repo at publish.revision."""

from randsae.publish import steps
from randsae.runner import run
from randsae.sections import RunConfig


def main(smk):
    run(
        steps.publish,
        smk,
        run=RunConfig.from_dict(smk.params.config),
        manifest_tsv=smk.params.manifest,
        expected=list(smk.params.expected),
    )


main(snakemake)  # noqa: F821
