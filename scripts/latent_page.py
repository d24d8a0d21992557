"""Rule latent_page: HTML page of latent examples, trained vs random inits side by side."""

from randsae.autointerp import steps
from randsae.runner import run


def main(smk):
    run(
        steps.latent_page,
        smk,
        model=smk.wildcards.model,
        layer=int(smk.wildcards.layer),
        inits=list(smk.params.inits),
        examples_jsons=list(smk.input.examples),
        explanation_jsonls=list(smk.input.explanations),
        windows_jsonls=list(smk.input.windows),
        out_html=smk.output.html,
    )


main(snakemake)  # noqa: F821
