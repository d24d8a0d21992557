"""Rule build_init: build one (model, init) variant and record its digest and statistics."""

from randsae import stages


def main(smk):
    stages.run(
        stages.build_init, smk, model=smk.wildcards.model, init=smk.wildcards.init,
        config=smk.params.cfg, device=smk.params.device, out_json=smk.output.record,
    )


main(snakemake)  # noqa: F821
