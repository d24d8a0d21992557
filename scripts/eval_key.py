"""Rule eval_key: the key of one layer's evaluation (its inputs' and settings' digest)."""

from pathlib import Path

from randsae.evaluate import group
from randsae.runner import run


def main(smk):
    run(
        group.write_key,
        smk,
        settings=group.GroupSettings.from_params(
            smk.wildcards.model, smk.wildcards.init, smk.params, smk.input.tokens, smk.input.init
        ),
        layer=int(smk.wildcards.layer),
        sae_dir=str(Path(smk.input.sae).parent),
        out_key=smk.output.key,
    )


main(snakemake)  # noqa: F821
