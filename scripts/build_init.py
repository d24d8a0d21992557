"""Rule build_init: build one (model, init) variant and record its digest and statistics."""

from randsae.models import steps
from randsae.runner import run


def main(smk):
    run(
        steps.build_init,
        smk,
        model=smk.wildcards.model,
        init=smk.wildcards.init,
        config=smk.params.cfg,
        device=smk.params.device,
        out_json=smk.output.record,
    )


main(snakemake)  # noqa: F821
