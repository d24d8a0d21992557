"""Rule tokenizer: train the byte-level BPE of the embedded models."""

from pathlib import Path

from randsae.data import steps
from randsae.runner import run


def main(smk):
    run(
        steps.tokenizer,
        smk,
        corpus_train=smk.input.train,
        out_dir=str(Path(smk.output.tokenizer).parent),
        vocab_size=smk.params.vocab_size,
    )


main(snakemake)  # noqa: F821
