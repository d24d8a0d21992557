"""Rule app_j_examples: App J text examples (CSV, Markdown, HTML)."""

from randsae.runner import run
from randsae.tables import app_j


def main(smk):
    run(
        app_j.write_app_j,
        smk,
        cells=[tuple(c) for c in smk.params.cells],
        examples_jsons=list(smk.input.examples),
        explanation_jsonls=list(smk.input.explanations),
        seed=int(smk.params.seed),
        n_latents=int(smk.params.n_latents),
        out_csv=smk.output.csv,
        out_md=smk.output.md,
        out_html=smk.output.html,
    )


main(snakemake)  # noqa: F821
