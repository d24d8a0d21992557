"""Rule init_model: the embedded model at initialization (its true step-0)."""

from pathlib import Path

from randsae.models import steps
from randsae.runner import run


def main(smk):
    run(
        steps.init_model,
        smk,
        tokenizer_dir=str(Path(smk.input.tokenizer).parent),
        arch=smk.params.arch,
        seed=smk.params.seed,
        out_dir=str(Path(smk.output.weights).parent),
    )


main(snakemake)  # noqa: F821
