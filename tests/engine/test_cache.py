"""Template grammars reach only the embedded model; the cache key covers what shapes the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daydreaming_dagster.engine.cache import CachedCall
from daydreaming_dagster.engine.flow import orchestrate_generation
from daydreaming_dagster.llm import ModelRoute
from daydreaming_dagster.testing import sample_data as sd
from daydreaming_dagster.testing.engine_kit import make_cohort, make_context, row
from daydreaming_dagster.testing.mock_llm import ScriptedProvider, ScriptedReply

GRAMMAR = 'root ::= line line line\nline ::= "- " [a-z ]{3,20} "\\n"\n'


@pytest.mark.parametrize("provider_value,expects_grammar", [("local", True), ("mock", False)])
def test_grammar_is_sent_to_local_models_only(tmp_path: Path, provider_value: str, expects_grammar: bool) -> None:
    root = sd.write_minimal_data_root(tmp_path / "data")
    (root / "1_raw" / "generation_templates" / "draft" / f"{sd.DRAFT_TEMPLATE_ID}.gbnf").write_text(GRAMMAR)
    models = root / "1_raw" / "llm_models.csv"
    models.write_text(models.read_text().replace("mock-model,mock,", f"mock-model,{provider_value},"))
    cohort = make_cohort(root)
    provider = ScriptedProvider([ScriptedReply("- a\n- b\n- c")])
    draft = row(cohort, "draft")
    orchestrate_generation(make_context(root, cohort, provider), draft, cohort.specs()["draft"], gen_id=draft["gen_id"], parent_gen_id=None)
    assert provider.calls[0].grammar == (GRAMMAR if expects_grammar else None)
    metadata = json.loads((root / "gens" / "draft" / draft["gen_id"] / "metadata.json").read_text())
    assert ("grammar" in metadata) is expects_grammar


ROUTE = ModelRoute("m", "openrouter", "vendor/model")


def _key(route: ModelRoute = ROUTE, prompt: str = "p", endpoint: str = "openai_compatible:http://a", **kw: object) -> str:
    fields: dict[str, object] = dict(max_tokens=100, temperature=0.7, replicate=1, grammar=None)
    fields.update(kw)
    return CachedCall(endpoint=endpoint, route=route, prompt=prompt, **fields).key()  # type: ignore[arg-type]


def test_cache_key_covers_each_input_that_shapes_the_output() -> None:
    key = _key()
    variants = [
        _key(route=ModelRoute("m", "openrouter", "vendor/other")),
        _key(prompt="p2"),
        _key(max_tokens=101),
        _key(temperature=0.1),
        _key(replicate=2),
        _key(grammar="root ::= x"),
        _key(endpoint="openai_compatible:http://b"),  # another server with the same model string
    ]
    assert len({key, *variants}) == len(variants) + 1
    # The project's model id is not part of the key: renaming it reuses the same responses.
    assert _key(route=ModelRoute("renamed", "openrouter", "vendor/model")) == key
