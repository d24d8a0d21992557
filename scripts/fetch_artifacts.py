"""Rule fetch_artifacts: the published run's results, each checked against its manifest."""

from randsae.publish import steps
from randsae.runner import run
from randsae.sections import RunConfig


def main(smk):
    run(
        steps.fetch_artifacts,
        smk,
        source=smk.params.source,
        files=list(smk.output),
        run=RunConfig.from_dict(smk.params.config),
    )


main(snakemake)  # noqa: F821
