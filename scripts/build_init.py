"""Rule build_init: build one (model, init) variant and record its digest and statistics."""

from randsae.models import steps
from randsae.runner import run
from randsae.sections import InitConfig, ModelSource


def main(smk):
    run(
        steps.build_init,
        smk,
        model_cfg=ModelSource.from_dict(smk.params.model, name=smk.wildcards.model),
        init_cfg=InitConfig.from_dict(smk.params.init),
        init=smk.wildcards.init,
        device=smk.params.device,
        out_json=smk.output.record,
    )


main(snakemake)  # noqa: F821
