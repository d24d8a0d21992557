"""Rule corpus: extract and split the text corpus."""

from randsae.data import steps
from randsae.runner import run
from randsae.sections import DataConfig


def main(smk):
    run(
        steps.corpus,
        smk,
        out_train=smk.output.train,
        out_val=smk.output.val,
        out_meta=smk.output.meta,
        data=DataConfig.from_dict(smk.params.data),
        seed=smk.params.seed,
    )


main(snakemake)  # noqa: F821
