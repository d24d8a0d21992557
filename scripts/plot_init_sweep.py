"""Rule plot_init_sweep: metrics against the init scale (configs/init-sweep.yaml)."""

from pathlib import Path

from randsae.figures import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_init_sweep,
        smk,
        sae_metrics_csv=smk.input.sae_metrics,
        abstractness_csv=smk.input.abstractness,
        out_base=str(Path(smk.output[0]).with_suffix("")),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
