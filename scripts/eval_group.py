"""Rule eval_group: every layer of one (model, init) evaluated on the model built once."""

from pathlib import Path

from randsae.evaluate import group
from randsae.runner import run


def main(smk):
    run(
        group.eval_group,
        smk,
        settings=group.GroupSettings.from_params(
            smk.wildcards.model, smk.wildcards.init, smk.params, smk.input.tokens, smk.input.init
        ),
        layers=list(smk.params.layers),
        sae_dirs=[str(Path(p).parent) for p in smk.input.saes],
        key_files=list(smk.input.layer_keys),
        store_dir=smk.params.store,
        out_manifest=smk.output.manifest,
    )


main(snakemake)  # noqa: F821
