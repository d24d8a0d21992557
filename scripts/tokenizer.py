"""Rule tokenizer: train the byte-level BPE of the embedded models."""

from pathlib import Path

from randsae import stages


def main(smk):
    stages.run(
        stages.tokenizer, smk, corpus_train=smk.input.train,
        out_dir=str(Path(smk.output.tokenizer).parent), vocab_size=smk.params.vocab_size,
    )


main(snakemake)  # noqa: F821
