"""Rule init_model: the embedded model at initialization (its true step-0)."""

from pathlib import Path

from randsae.models import steps
from randsae.runner import run
from randsae.sections import ArchConfig


def main(smk):
    run(
        steps.init_model,
        smk,
        tokenizer_dir=str(Path(smk.input.tokenizer).parent),
        arch=ArchConfig.from_dict(smk.params.arch, model=smk.wildcards.model),
        seed=smk.params.seed,
        out_dir=str(Path(smk.output.weights).parent),
    )


main(snakemake)  # noqa: F821
