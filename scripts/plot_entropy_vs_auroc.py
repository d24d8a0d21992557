"""Rule plot_entropy_vs_auroc: per-latent token entropy vs fuzzing AUROC (v2 Fig 20)."""

from pathlib import Path

from randsae.figures import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_entropy_vs_auroc,
        smk,
        latents_csv=smk.input.latents,
        model=smk.wildcards.model,
        out_base=str(Path(smk.output[0]).with_suffix("")),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
