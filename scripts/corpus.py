"""Rule corpus: extract and split the text corpus."""

from randsae import stages


def main(smk):
    stages.run(
        stages.corpus, smk, out_train=smk.output.train, out_val=smk.output.val,
        out_meta=smk.output.meta, data=smk.params.data, seed=smk.params.seed,
    )


main(snakemake)  # noqa: F821
