"""Rule train_model: train the embedded model from its step-0 weights."""

from pathlib import Path

from randsae.models import steps
from randsae.runner import run
from randsae.sections import TrainConfig


def main(smk):
    run(
        steps.train_model,
        smk,
        step0_dir=str(Path(smk.input.step0).parent),
        tokens_train=smk.input.train,
        tokens_val=smk.input.val,
        train=TrainConfig.from_dict(smk.params.train, model=smk.wildcards.model),
        seed=smk.params.seed,
        out_dir=str(Path(smk.output.weights).parent),
        curve_csv=smk.output.curve,
    )


main(snakemake)  # noqa: F821
