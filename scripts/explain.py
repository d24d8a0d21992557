"""Rule explain: one explanation per chosen latent."""

from randsae.autointerp import steps
from randsae.runner import run
from randsae.sections import AnthropicSettings, OpenAISettings


def main(smk):
    run(
        steps.explain,
        smk,
        examples_json=smk.input.examples,
        backend=smk.params.backend,
        lexical_top_tokens=smk.params.lexical_top_tokens,
        highlight_threshold=smk.params.highlight_threshold,
        anthropic=AnthropicSettings.from_dict(smk.params.anthropic),
        openai=OpenAISettings.from_dict(smk.params.openai),
        out_jsonl=smk.output.explanations,
    )


main(snakemake)  # noqa: F821
