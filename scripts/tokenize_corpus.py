"""Rule tokenize_corpus: token streams of one model's tokenizer."""

from randsae.data import steps
from randsae.runner import run
from randsae.sections import DataConfig


def main(smk):
    run(
        steps.tokenize,
        smk,
        tokenizer=smk.params.tokenizer,
        data=DataConfig.from_dict(smk.params.data),
        corpus_train=smk.input.train,
        corpus_val=smk.input.val,
        out_train=smk.output.train,
        out_val=smk.output.val,
    )


main(snakemake)  # noqa: F821
