"""Cohort specs (upstream HEAD's spec language): every upstream fixture compiles to the rows
upstream's compiler gives, and every mistake names the file, the line and the fix.

The fixtures are upstream's ``tests/fixtures/spec_dsl/*``, written here as data; the expected rows
were obtained by running upstream's ``load_spec`` + ``compile_design`` on them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from daydreaming_dagster.inputs import InputError
from daydreaming_dagster.inputs.spec_dsl import (
    PairRule,
    SubsetRule,
    TupleRule,
    compile_design,
    load_spec,
    parse_spec_mapping,
)

# --------------------------------------------------------------------------------------------
# Upstream's fixtures: {fixture: {relative path: text}}

FIXTURES: dict[str, dict[str, str]] = {
    "baseline_cartesian": {
        "config.yaml": """\
axes:
  draft_template: '@file:items/draft_templates.csv'
  essay_template: '@file:items/essay_templates.csv'
  evaluation_template: '@file:items/evaluation_templates.csv'
  evaluation_llm: '@file:items/evaluation_llms.csv'
rules:
  pairs:
    evaluation_bundle:
      left: evaluation_template
      right: evaluation_llm
      allowed: '@file:items/evaluation_pairs.csv'
output:
  field_order:
    - draft_template
    - essay_template
    - evaluation_template
    - evaluation_llm
""",
        "items/draft_templates.csv": "draft_template\ncreative-synthesis-v2\napplication-implementation-v2\ngwern_original\n",
        "items/essay_templates.csv": "essay_template\nparsed-from-links-v1\n",
        "items/evaluation_llms.csv": "evaluation_llm\nsonnet-4\ngemini_25_pro\n",
        "items/evaluation_pairs.csv": (
            "evaluation_template,evaluation_llm\ncreativity-metrics-v2,sonnet-4\ncreativity-metrics-v2,gemini_25_pro\n"
            "daydreaming-verification-v3,sonnet-4\ndaydreaming-verification-v3,gemini_25_pro\n"
        ),
        "items/evaluation_templates.csv": "evaluation_template\ncreativity-metrics-v2\ndaydreaming-verification-v3\n",
    },
    "cohort_cartesian": {
        "config.yaml": """\
axes:
  combo_id: [combo-1]
  draft_template: [draft-A]
  draft_llm: [draft-llm]
  draft_template_replicate: ['1', '2']
  essay_template_replicate: ['1', '2']
  evaluation_template: [eval-1]
  evaluation_llm: [eval-llm]
rules:
  tuples:
    essay_bundle:
      axes: [essay_template, essay_llm]
      items: '@file:items/essay_llm_pairs.csv'
  pairs:
    evaluation_bundle:
      left: evaluation_template
      right: evaluation_llm
      allowed: '@file:items/evaluation_pairs.csv'
output:
  field_order:
    - combo_id
    - draft_template
    - draft_llm
    - draft_template_replicate
    - essay_template
    - essay_llm
    - essay_template_replicate
    - evaluation_template
    - evaluation_llm
""",
        "items/essay_llm_pairs.csv": "essay_template,essay_llm\nessay-X,essay-llm\nessay-Y,essay-llm\n",
        "items/essay_templates.csv": "essay_template\nessay-X\nessay-Y\n",
        "items/evaluation_pairs.csv": "evaluation_template,evaluation_llm\neval-1,eval-llm\n",
    },
    "creative_alignment_tuple": {
        "config.yaml": """\
axes:
  combo_id:
  - combo_v1_a
  - combo_v1_b
  - combo_v1_c
  evaluation_template:
  - creativity-metrics-v2
  - daydreaming-verification-v2
  - gemini-prior-art-eval-v2
  - interdisciplinary-coherence
  - iterative-loops-v2
  - novel-elements-coverage-v1
  - novelty
  - novelty-v2
  - o3-prior-art-eval
  - scientific-rigor-v2
  - style-coherence-v3
  evaluation_llm:
  - gemini_25_pro
  evaluation_replicate:
  - '1'
  - '2'
  draft_replicate:
  - '1'
  - '2'
rules:
  tuples:
    draft_essay_alignment:
      axes: [draft_template, essay_template]
      items:
        - [creative-synthesis-v10, creative-synthesis-v10]
        - [creative-synthesis-v7, parsed-from-links-v1]
    generation_alignment:
      axes: [draft_llm, essay_llm]
      items:
        - [gemini_25_pro, gemini_25_pro]
        - [deepseek_r1_p, deepseek_r1_p]
output:
  field_order:
  - combo_id
  - draft_template
  - draft_llm
  - essay_template
  - essay_llm
  - draft_replicate
  - evaluation_template
  - evaluation_llm
  - evaluation_replicate
""",
    },
    "curated_essays": {
        "config.yaml": """\
axes: {}
rules:
  tuples:
    curated_bundle:
      axes: [essay_template, essay_llm, evaluation_template, evaluation_llm]
      items: '@file:items/curated_bundles.csv'
output:
  field_order:
    - essay_template
    - essay_llm
    - evaluation_template
    - evaluation_llm
""",
        "items/curated_bundles.csv": (
            "essay_template,essay_llm,evaluation_template,evaluation_llm\n"
            "essay-copy-v1,sonnet-4,verification-eval-v1,sonnet-4\nessay-llm-v1,sonnet-4,verification-eval-v1,sonnet-4\n"
        ),
        "items/essay_templates.csv": "essay_template\nessay-copy-v1\nessay-llm-v1\n",
    },
    "dual_llm_cartesian": {
        "config.yaml": """\
axes:
  draft_template: '@file:items/draft_templates.csv'
  draft_llm: [gemini_25_pro]
  draft_template_replicate: ['1', '2']
  evaluation_template: [verification-eval-v1]
  evaluation_llm: [sonnet-4]
rules:
  tuples:
    essay_bundle:
      axes: [essay_template, essay_llm]
      items: '@file:items/essay_bundle.csv'
  pairs:
    draft_essay_pair:
      left: draft_template
      right: essay_bundle
      allowed:
        - [creative-synthesis-v2, [essay-llm-v1, sonnet-4]]
        - [application-implementation-v2, [essay-copy-v1, sonnet-4]]
output:
  field_order:
    - draft_template
    - draft_llm
    - draft_template_replicate
    - essay_template
    - essay_llm
    - evaluation_template
    - evaluation_llm
""",
        "items/draft_templates.csv": "draft_template\ncreative-synthesis-v2\napplication-implementation-v2\n",
        "items/essay_bundle.csv": "essay_template,essay_llm\nessay-copy-v1,sonnet-4\nessay-llm-v1,sonnet-4\n",
        "items/essay_templates.csv": "essay_template\nessay-copy-v1\nessay-llm-v1\n",
    },
    "full_two_phase_cartesian": {
        "config.yaml": """\
axes:
  draft_template: '@file:items/draft_templates.csv'
  draft_llm: '@file:items/draft_llms.csv'
  evaluation_template: '@file:items/evaluation_templates.csv'
  evaluation_llm: '@file:items/evaluation_llms.csv'
rules:
  tuples:
    essay_bundle:
      axes: [essay_template, essay_llm]
      items: '@file:items/essay_bundle.csv'
  pairs:
    draft_essay_pair:
      left: draft_template
      right: essay_bundle
      allowed:
        - [creative-synthesis-v2, [essay-theme-v16, gemini_25_pro]]
        - [creative-synthesis-v2, [essay-theme-v16, sonnet-4]]
        - [creative-synthesis-v2, [essay-theme-v17, gemini_25_pro]]
        - [creative-synthesis-v2, [essay-theme-v17, sonnet-4]]
        - [application-implementation-v2, [essay-theme-v16, gemini_25_pro]]
        - [application-implementation-v2, [essay-theme-v16, sonnet-4]]
        - [application-implementation-v2, [essay-theme-v17, gemini_25_pro]]
        - [application-implementation-v2, [essay-theme-v17, sonnet-4]]
    evaluation_bundle:
      left: evaluation_template
      right: evaluation_llm
      allowed: '@file:items/evaluation_pairs.csv'
output:
  field_order:
    - draft_template
    - draft_llm
    - essay_template
    - essay_llm
    - evaluation_template
    - evaluation_llm
""",
        "items/draft_llms.csv": "draft_llm\ngemini_25_pro\nsonnet-4\n",
        "items/draft_templates.csv": "draft_template\ncreative-synthesis-v2\napplication-implementation-v2\n",
        "items/essay_bundle.csv": (
            "essay_template,essay_llm\nessay-theme-v16,gemini_25_pro\nessay-theme-v16,sonnet-4\n"
            "essay-theme-v17,gemini_25_pro\nessay-theme-v17,sonnet-4\n"
        ),
        "items/essay_llms.csv": "essay_llm\ngemini_25_pro\nsonnet-4\n",
        "items/essay_templates.csv": "essay_template\nessay-theme-v16\nessay-theme-v17\n",
        "items/evaluation_llms.csv": "evaluation_llm\ngemini_25_pro\nsonnet-4\n",
        "items/evaluation_pairs.csv": (
            "evaluation_template,evaluation_llm\ncreativity-metrics-v2,gemini_25_pro\ncreativity-metrics-v2,sonnet-4\n"
            "daydreaming-verification-v3,gemini_25_pro\ndaydreaming-verification-v3,sonnet-4\n"
        ),
        "items/evaluation_templates.csv": "evaluation_template\ncreativity-metrics-v2\ndaydreaming-verification-v3\n",
    },
    "paired_copy_mix": {
        "config.yaml": """\
axes:
  draft_template: '@file:items/draft_templates.csv'
  essay_template: '@file:items/essay_templates.csv'
  evaluation_template: '@file:items/evaluation_templates.csv'
  evaluation_llm: '@file:items/evaluation_llms.csv'
rules:
  pairs:
    draft_essay_mode:
      left: draft_template
      right: essay_template
      allowed: '@file:items/draft_essay_pairs.csv'
output:
  field_order:
    - draft_template
    - essay_template
    - evaluation_template
    - evaluation_llm
""",
        "items/draft_essay_pairs.csv": "draft_template,essay_template\ncreative-synthesis-v2,essay-llm-v1\ngwern_original,essay-copy-v1\n",
        "items/draft_templates.csv": "draft_template\ncreative-synthesis-v2\ngwern_original\n",
        "items/essay_templates.csv": "essay_template\nessay-llm-v1\nessay-copy-v1\n",
        "items/evaluation_llms.csv": "evaluation_llm\nsonnet-4\n",
        "items/evaluation_templates.csv": "evaluation_template\nquality-eval-v1\n",
    },
}


def write_fixture(root: Path, name: str) -> Path:
    """Write one upstream fixture under ``root/<name>/`` and return its config.yaml."""
    for relative, text in FIXTURES[name].items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / name / "config.yaml"


# Upstream compile_design's rows: {fixture: (columns, rows as value tuples)}.
EXPECTED_ROWS: dict[str, tuple[tuple[str, ...], list[tuple[object, ...]]]] = {
    # tests/fixtures/spec_dsl/baseline_cartesian
    'baseline_cartesian': (
        ('draft_template', 'essay_template', 'evaluation_template', 'evaluation_llm'),
        [
            ('creative-synthesis-v2', 'parsed-from-links-v1', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'parsed-from-links-v1', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'parsed-from-links-v1', 'daydreaming-verification-v3', 'sonnet-4'),
            ('creative-synthesis-v2', 'parsed-from-links-v1', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'parsed-from-links-v1', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'parsed-from-links-v1', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'parsed-from-links-v1', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'parsed-from-links-v1', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('gwern_original', 'parsed-from-links-v1', 'creativity-metrics-v2', 'sonnet-4'),
            ('gwern_original', 'parsed-from-links-v1', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('gwern_original', 'parsed-from-links-v1', 'daydreaming-verification-v3', 'sonnet-4'),
            ('gwern_original', 'parsed-from-links-v1', 'daydreaming-verification-v3', 'gemini_25_pro'),
        ],
    ),
    # tests/fixtures/spec_dsl/cohort_cartesian
    'cohort_cartesian': (
        ('combo_id', 'draft_template', 'draft_llm', 'draft_template_replicate', 'essay_template', 'essay_llm', 'essay_template_replicate', 'evaluation_template', 'evaluation_llm'),
        [
            ('combo-1', 'draft-A', 'draft-llm', '1', 'essay-X', 'essay-llm', '1', 'eval-1', 'eval-llm'),
            ('combo-1', 'draft-A', 'draft-llm', '1', 'essay-Y', 'essay-llm', '1', 'eval-1', 'eval-llm'),
            ('combo-1', 'draft-A', 'draft-llm', '1', 'essay-X', 'essay-llm', '2', 'eval-1', 'eval-llm'),
            ('combo-1', 'draft-A', 'draft-llm', '1', 'essay-Y', 'essay-llm', '2', 'eval-1', 'eval-llm'),
            ('combo-1', 'draft-A', 'draft-llm', '2', 'essay-X', 'essay-llm', '1', 'eval-1', 'eval-llm'),
            ('combo-1', 'draft-A', 'draft-llm', '2', 'essay-Y', 'essay-llm', '1', 'eval-1', 'eval-llm'),
            ('combo-1', 'draft-A', 'draft-llm', '2', 'essay-X', 'essay-llm', '2', 'eval-1', 'eval-llm'),
            ('combo-1', 'draft-A', 'draft-llm', '2', 'essay-Y', 'essay-llm', '2', 'eval-1', 'eval-llm'),
        ],
    ),
    # tests/fixtures/spec_dsl/curated_essays
    'curated_essays': (
        ('essay_template', 'essay_llm', 'evaluation_template', 'evaluation_llm'),
        [
            ('essay-copy-v1', 'sonnet-4', 'verification-eval-v1', 'sonnet-4'),
            ('essay-llm-v1', 'sonnet-4', 'verification-eval-v1', 'sonnet-4'),
        ],
    ),
    # tests/fixtures/spec_dsl/dual_llm_cartesian
    'dual_llm_cartesian': (
        ('draft_template', 'draft_llm', 'draft_template_replicate', 'essay_template', 'essay_llm', 'evaluation_template', 'evaluation_llm'),
        [
            ('creative-synthesis-v2', 'gemini_25_pro', '1', 'essay-llm-v1', 'sonnet-4', 'verification-eval-v1', 'sonnet-4'),
            ('creative-synthesis-v2', 'gemini_25_pro', '2', 'essay-llm-v1', 'sonnet-4', 'verification-eval-v1', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', '1', 'essay-copy-v1', 'sonnet-4', 'verification-eval-v1', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', '2', 'essay-copy-v1', 'sonnet-4', 'verification-eval-v1', 'sonnet-4'),
        ],
    ),
    # tests/fixtures/spec_dsl/full_two_phase_cartesian
    'full_two_phase_cartesian': (
        ('draft_template', 'draft_llm', 'essay_template', 'essay_llm', 'evaluation_template', 'evaluation_llm'),
        [
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v16', 'gemini_25_pro', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v16', 'gemini_25_pro', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v16', 'gemini_25_pro', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v16', 'gemini_25_pro', 'daydreaming-verification-v3', 'sonnet-4'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v16', 'gemini_25_pro', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v16', 'gemini_25_pro', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v16', 'gemini_25_pro', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v16', 'gemini_25_pro', 'daydreaming-verification-v3', 'sonnet-4'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v16', 'sonnet-4', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v16', 'sonnet-4', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v16', 'sonnet-4', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v16', 'sonnet-4', 'daydreaming-verification-v3', 'sonnet-4'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v16', 'sonnet-4', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v16', 'sonnet-4', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v16', 'sonnet-4', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v16', 'sonnet-4', 'daydreaming-verification-v3', 'sonnet-4'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v17', 'gemini_25_pro', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v17', 'gemini_25_pro', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v17', 'gemini_25_pro', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v17', 'gemini_25_pro', 'daydreaming-verification-v3', 'sonnet-4'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v17', 'gemini_25_pro', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v17', 'gemini_25_pro', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v17', 'gemini_25_pro', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v17', 'gemini_25_pro', 'daydreaming-verification-v3', 'sonnet-4'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v17', 'sonnet-4', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v17', 'sonnet-4', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v17', 'sonnet-4', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'gemini_25_pro', 'essay-theme-v17', 'sonnet-4', 'daydreaming-verification-v3', 'sonnet-4'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v17', 'sonnet-4', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v17', 'sonnet-4', 'creativity-metrics-v2', 'sonnet-4'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v17', 'sonnet-4', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('creative-synthesis-v2', 'sonnet-4', 'essay-theme-v17', 'sonnet-4', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v16', 'gemini_25_pro', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v16', 'gemini_25_pro', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v16', 'gemini_25_pro', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v16', 'gemini_25_pro', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v16', 'gemini_25_pro', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v16', 'gemini_25_pro', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v16', 'gemini_25_pro', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v16', 'gemini_25_pro', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v16', 'sonnet-4', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v16', 'sonnet-4', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v16', 'sonnet-4', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v16', 'sonnet-4', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v16', 'sonnet-4', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v16', 'sonnet-4', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v16', 'sonnet-4', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v16', 'sonnet-4', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v17', 'gemini_25_pro', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v17', 'gemini_25_pro', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v17', 'gemini_25_pro', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v17', 'gemini_25_pro', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v17', 'gemini_25_pro', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v17', 'gemini_25_pro', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v17', 'gemini_25_pro', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v17', 'gemini_25_pro', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v17', 'sonnet-4', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v17', 'sonnet-4', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v17', 'sonnet-4', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'gemini_25_pro', 'essay-theme-v17', 'sonnet-4', 'daydreaming-verification-v3', 'sonnet-4'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v17', 'sonnet-4', 'creativity-metrics-v2', 'gemini_25_pro'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v17', 'sonnet-4', 'creativity-metrics-v2', 'sonnet-4'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v17', 'sonnet-4', 'daydreaming-verification-v3', 'gemini_25_pro'),
            ('application-implementation-v2', 'sonnet-4', 'essay-theme-v17', 'sonnet-4', 'daydreaming-verification-v3', 'sonnet-4'),
        ],
    ),
    # tests/fixtures/spec_dsl/paired_copy_mix
    'paired_copy_mix': (
        ('draft_template', 'essay_template', 'evaluation_template', 'evaluation_llm'),
        [
            ('creative-synthesis-v2', 'essay-llm-v1', 'quality-eval-v1', 'sonnet-4'),
            ('gwern_original', 'essay-copy-v1', 'quality-eval-v1', 'sonnet-4'),
        ],
    ),
}

# creative_alignment_tuple gives 528 rows: its columns, first and last rows, and the SHA-256 of
# json.dumps(rows, separators=(",", ":")) of upstream's rows.
CREATIVE_COLUMNS = (
    "combo_id", "draft_template", "draft_llm", "essay_template", "essay_llm", "draft_replicate",
    "evaluation_template", "evaluation_llm", "evaluation_replicate",
)
CREATIVE_FIRST = [
    ("combo_v1_a", "creative-synthesis-v10", "gemini_25_pro", "creative-synthesis-v10", "gemini_25_pro", "1", "creativity-metrics-v2", "gemini_25_pro", "1"),
    ("combo_v1_a", "creative-synthesis-v10", "deepseek_r1_p", "creative-synthesis-v10", "deepseek_r1_p", "1", "creativity-metrics-v2", "gemini_25_pro", "1"),
    ("combo_v1_a", "creative-synthesis-v7", "gemini_25_pro", "parsed-from-links-v1", "gemini_25_pro", "1", "creativity-metrics-v2", "gemini_25_pro", "1"),
    ("combo_v1_a", "creative-synthesis-v7", "deepseek_r1_p", "parsed-from-links-v1", "deepseek_r1_p", "1", "creativity-metrics-v2", "gemini_25_pro", "1"),
    ("combo_v1_a", "creative-synthesis-v10", "gemini_25_pro", "creative-synthesis-v10", "gemini_25_pro", "2", "creativity-metrics-v2", "gemini_25_pro", "1"),
    ("combo_v1_a", "creative-synthesis-v10", "deepseek_r1_p", "creative-synthesis-v10", "deepseek_r1_p", "2", "creativity-metrics-v2", "gemini_25_pro", "1"),
]
CREATIVE_LAST = [
    ("combo_v1_c", "creative-synthesis-v7", "gemini_25_pro", "parsed-from-links-v1", "gemini_25_pro", "2", "style-coherence-v3", "gemini_25_pro", "2"),
    ("combo_v1_c", "creative-synthesis-v7", "deepseek_r1_p", "parsed-from-links-v1", "deepseek_r1_p", "2", "style-coherence-v3", "gemini_25_pro", "2"),
]
CREATIVE_SHA256 = "d85b5e4c8ce12621e7b34e53c66cfed9ed5e0c5d97a3fce4fc1156d7861deb8c"


def as_tuples(rows: list[dict[str, object]]) -> tuple[set[tuple[str, ...]], list[tuple[object, ...]]]:
    return {tuple(row) for row in rows}, [tuple(row.values()) for row in rows]


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_upstream_fixture_compiles_to_upstream_rows(tmp_path: Path, name: str) -> None:
    columns, expected = EXPECTED_ROWS[name]
    rows = compile_design(load_spec(write_fixture(tmp_path, name)))
    assert as_tuples(rows) == ({columns}, expected)


def test_creative_alignment_tuple_compiles_to_upstream_rows(tmp_path: Path) -> None:
    rows = compile_design(load_spec(write_fixture(tmp_path, "creative_alignment_tuple")))
    column_sets, values = as_tuples(rows)
    assert column_sets == {CREATIVE_COLUMNS}
    assert len(rows) == 528  # 3 combos x 11 rubrics x 2 x 2 replicates x 2 x 2 tuple items
    assert values[:6] == CREATIVE_FIRST
    assert values[-2:] == CREATIVE_LAST
    assert hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest() == CREATIVE_SHA256


def test_a_folder_means_its_config_yaml(tmp_path: Path) -> None:
    spec_path = write_fixture(tmp_path, "paired_copy_mix")
    assert compile_design(load_spec(spec_path.parent)) == compile_design(load_spec(spec_path))


def test_json_and_toml_specs_compile_like_yaml(tmp_path: Path) -> None:
    yaml_path = write_fixture(tmp_path, "paired_copy_mix")
    expected = compile_design(load_spec(yaml_path))
    payload = {
        "axes": {
            "draft_template": "@file:items/draft_templates.csv",
            "essay_template": "@file:items/essay_templates.csv",
            "evaluation_template": "@file:items/evaluation_templates.csv",
            "evaluation_llm": "@file:items/evaluation_llms.csv",
        },
        "rules": {"pairs": {"draft_essay_mode": {
            "left": "draft_template", "right": "essay_template", "allowed": "@file:items/draft_essay_pairs.csv",
        }}},
        "output": {"field_order": ["draft_template", "essay_template", "evaluation_template", "evaluation_llm"]},
    }
    json_path = yaml_path.with_name("config.json")
    json_path.write_text(json.dumps(payload), encoding="utf-8")
    toml_path = yaml_path.with_name("config.toml")
    toml_path.write_text(
        """\
[axes]
draft_template = "@file:items/draft_templates.csv"
essay_template = "@file:items/essay_templates.csv"
evaluation_template = "@file:items/evaluation_templates.csv"
evaluation_llm = "@file:items/evaluation_llms.csv"

[rules.pairs.draft_essay_mode]
left = "draft_template"
right = "essay_template"
allowed = "@file:items/draft_essay_pairs.csv"

[output]
field_order = ["draft_template", "essay_template", "evaluation_template", "evaluation_llm"]
""",
        encoding="utf-8",
    )
    assert compile_design(load_spec(json_path)) == expected
    assert compile_design(load_spec(toml_path)) == expected
    assert compile_design(parse_spec_mapping(payload, source=json_path)) == expected


# --------------------------------------------------------------------------------------------
# Rule semantics (each expected row list was given by upstream's compiler for the same spec)


def compile_mapping(tmp_path: Path, payload: dict[str, object], *, seed: int | None = None) -> list[list[tuple[str, object]]]:
    spec = parse_spec_mapping(payload, source=tmp_path / "spec.yaml")
    return [list(row.items()) for row in compile_design(spec, seed=seed)]


def test_tie_keeps_common_levels_and_its_own_column(tmp_path: Path) -> None:
    rows = compile_mapping(tmp_path, {
        "axes": {"draft_template": ["a", "b", "c"], "essay_template": ["b", "c", "d"], "draft_llm": ["m"]},
        "rules": {"ties": {"shared": {"axes": ["draft_template", "essay_template"]}}},
        "output": {"field_order": ["draft_llm", "essay_template", "draft_template"]},
    })
    assert rows == [
        [("draft_llm", "m"), ("essay_template", "b"), ("draft_template", "b"), ("shared", "b")],
        [("draft_llm", "m"), ("essay_template", "c"), ("draft_template", "c"), ("shared", "c")],
    ]


def test_tie_named_after_one_of_its_axes(tmp_path: Path) -> None:
    rows = compile_mapping(tmp_path, {
        "axes": {"draft_template": ["a", "b"], "essay_template": ["b", "a"]},
        "rules": {"ties": {"draft_template": ["draft_template", "essay_template"]}},
        "output": {"field_order": ["essay_template"]},
    })
    assert rows == [
        [("essay_template", "a"), ("draft_template", "a")],
        [("essay_template", "b"), ("draft_template", "b")],
    ]


def test_subsets_dedupe_and_int_levels_stay_ints(tmp_path: Path) -> None:
    rows = compile_mapping(tmp_path, {
        "axes": {"draft_template": ["a", "b", "a"], "draft_replicate": [1, 2], "evaluation_llm": ["x", "y"]},
        "rules": {"subsets": {"draft_template": ["b"], "evaluation_llm": ["y", "x"]}},
        "output": {"field_order": ["evaluation_llm"]},
    })
    assert rows == [
        [("evaluation_llm", "x"), ("draft_template", "b"), ("draft_replicate", 1)],
        [("evaluation_llm", "y"), ("draft_template", "b"), ("draft_replicate", 1)],
        [("evaluation_llm", "x"), ("draft_template", "b"), ("draft_replicate", 2)],
        [("evaluation_llm", "y"), ("draft_template", "b"), ("draft_replicate", 2)],
    ]


def test_balanced_pair_expands_left_then_right(tmp_path: Path) -> None:
    rows = compile_mapping(tmp_path, {
        "axes": {"l": ["a", "b"], "r": ["x", "y"], "z": ["k"]},
        "rules": {"pairs": {"lr": {"left": "r", "right": "l", "allowed": [["x", "a"], ["y", "b"], ["x", "b"], ["y", "a"]], "balance": "both"}}},
        "output": {"field_order": ["z"]},
    })
    assert rows == [
        [("z", "k"), ("r", "x"), ("l", "a")],
        [("z", "k"), ("r", "y"), ("l", "b")],
        [("z", "k"), ("r", "x"), ("l", "b")],
        [("z", "k"), ("r", "y"), ("l", "a")],
    ]


def test_pair_then_tuple_sections_apply_in_the_order_written(tmp_path: Path) -> None:
    rows = compile_mapping(tmp_path, {
        "axes": {"draft_template": ["d1", "d2"], "evaluation_template": ["e1", "e2"]},
        "rules": {
            "pairs": {"de": {"left": "draft_template", "right": "evaluation_template", "allowed": [["d1", "e2"], ["d2", "e1"]]}},
            "tuples": {"bundle": {"axes": ["essay_template", "essay_llm"], "items": [["s1", "m1"], ["s2", "m2"]]}},
        },
        "output": {"field_order": ["essay_llm"]},
    })
    assert rows == [
        [("essay_llm", "m1"), ("draft_template", "d1"), ("evaluation_template", "e2"), ("essay_template", "s1")],
        [("essay_llm", "m2"), ("draft_template", "d1"), ("evaluation_template", "e2"), ("essay_template", "s2")],
        [("essay_llm", "m1"), ("draft_template", "d2"), ("evaluation_template", "e1"), ("essay_template", "s1")],
        [("essay_llm", "m2"), ("draft_template", "d2"), ("evaluation_template", "e1"), ("essay_template", "s2")],
    ]


def test_seed_shuffles_as_upstream(tmp_path: Path) -> None:
    payload = {"axes": {"a": ["1", "2", "3"], "b": [1, 2]}, "output": {"field_order": ["a", "b"]}}
    assert compile_mapping(tmp_path, payload, seed=7) == [
        [("a", "3"), ("b", 1)], [("a", "1"), ("b", 1)], [("a", "3"), ("b", 2)],
        [("a", "2"), ("b", 2)], [("a", "1"), ("b", 2)], [("a", "2"), ("b", 1)],
    ]


def test_loaded_rules_keep_section_order_and_include_values(tmp_path: Path) -> None:
    spec = load_spec(write_fixture(tmp_path, "cohort_cartesian"))
    assert [type(rule) for rule in spec.rules] == [TupleRule, PairRule]
    tuple_rule, pair_rule = spec.rules
    assert isinstance(tuple_rule, TupleRule) and isinstance(pair_rule, PairRule)
    assert tuple_rule.items == (("essay-X", "essay-llm"), ("essay-Y", "essay-llm"))
    assert pair_rule.allowed == (("eval-1", "eval-llm"),)
    assert spec.derived_axes == {"essay_template", "essay_llm"}
    assert list(spec.axes)[-2:] == ["essay_template", "essay_llm"]  # derived axes come last
    assert tuple_rule.item_origins[1].line == 3  # line 3 of essay_llm_pairs.csv


def test_txt_and_yaml_includes(tmp_path: Path) -> None:
    (tmp_path / "levels.txt").write_text("a\n\n  b \n", encoding="utf-8")
    (tmp_path / "keep.yaml").write_text("- b\n", encoding="utf-8")
    spec = parse_spec_mapping(
        {"axes": {"t": "@file:levels.txt"}, "rules": {"subsets": {"t": "@file:keep.yaml"}}, "output": {"field_order": ["t"]}},
        source=tmp_path / "spec.yaml",
    )
    assert isinstance(spec.rules[0], SubsetRule)
    assert spec.axes["t"] == ("a", "b")
    assert compile_design(spec) == [{"t": "b"}]


# --------------------------------------------------------------------------------------------
# Mistakes: the message names the file, the line when known, what is wrong and the fix


def write_spec(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Path:
    for relative, content in (files or {}).items():
        path = tmp_path / "spec" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    spec_path = tmp_path / "spec" / "config.yaml"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(text, encoding="utf-8")
    return spec_path


def problem_of(spec_path: Path, *, compile_it: bool = False) -> str:
    with pytest.raises(InputError) as caught:
        spec = load_spec(spec_path)
        if compile_it:
            compile_design(spec)
    assert len(caught.value.problems) == 1
    return str(caught.value)


ERROR_CASES = [
    pytest.param(
        "axes:\n  t: [a]\nrules:\n  filters:\n    t: [a]\noutput:\n  field_order: [t]\n",
        {}, False, "config.yaml:4: rules.filters: unknown rule section 'filters'. Fix: use one of subsets, ties, pairs, tuples",
        id="unknown-rule-section",
    ),
    pytest.param(
        "axes:\n  t: [a, b]\nrules:\n  subsets:\n    t: [c]\noutput:\n  field_order: [t]\n",
        {}, True, "config.yaml:5: subset of 't' keeps none of its levels ('a', 'b'). Fix: list at least one",
        id="empty-subset",
    ),
    pytest.param(
        "axes:\n  l: [a]\n  r: [x]\nrules:\n  pairs:\n    lr:\n      left: l\n      right: r\n      allowed: [[a, x]]\n"
        "      balance: middle\noutput:\n  field_order: [l]\n",
        {}, False, "config.yaml:10: rules.pairs.lr.balance: balance 'middle' is not one of left, right, both. Fix: write balance: left, right or both",
        id="bad-balance",
    ),
    pytest.param(
        "axes:\n  l: [a, b]\n  r: [x, y]\nrules:\n  pairs:\n    lr:\n      left: l\n      right: r\n"
        "      allowed: [[a, x], [a, y], [b, x]]\n      balance: left\noutput:\n  field_order: [l]\n",
        {}, True, "config.yaml:6: pair 'lr' is not balanced on 'l' (balance: left): pairs per value 'a': 2, 'b': 1. Fix: give every l value",
        id="unbalanced-pair",
    ),
    pytest.param(
        "axes:\n  t: '@file:items/missing.csv'\noutput:\n  field_order: [t]\n",
        {}, False, "config.yaml:2: axes.t: include '@file:items/missing.csv' not found",
        id="missing-include",
    ),
    pytest.param(
        "axes:\n  t: '@file:../outside.csv'\noutput:\n  field_order: [t]\n",
        {"../outside.csv": "t\na\n"}, False, "config.yaml:2: axes.t: include '@file:../outside.csv' is outside the spec's folder",
        id="include-escaping-the-folder",
    ),
    pytest.param(
        "axes:\n  essay_template: [e1]\nrules:\n  tuples:\n    bundle:\n      axes: [essay_template, essay_llm]\n"
        "      items: [[e1, m1]]\noutput:\n  field_order: [essay_template]\n",
        {}, False, "config.yaml:5: axis 'essay_template' is declared under axes and also takes its levels from tuple 'bundle'. "
        "Fix: remove 'essay_template' from axes",
        id="mixed-inline-and-tuple-axis",
    ),
    pytest.param(
        "axes:\n  t: [a]\noutput:\n  columns: [t]\n",
        {}, False, "config.yaml:3: output: field_order is required",
        id="missing-field-order",
    ),
    pytest.param(
        "axes:\n  t: [a]\noutput:\n  field_order: [t, u]\n",
        {}, False, "config.yaml:4: output.field_order[1]: 'u' is not an axis. Fix: list only axes (t)",
        id="field-order-names-no-axis",
    ),
    pytest.param(
        "axes:\n  l: [a]\n  r: [x]\nrules:\n  pairs:\n    lr:\n      left: l\n      right: r\n      allowed:\n"
        "        - [a, x]\n        - [a, z]\noutput:\n  field_order: [l]\n",
        {}, True, "config.yaml:11: pair 'lr': right value 'z' is not a level of 'r' ('x'). Fix: use one of r's levels",
        id="pair-value-outside-axis",
    ),
    pytest.param(
        "axes:\n  t: [a]\n  u: oops\noutput:\n  field_order: [t]\n",
        {}, False, "config.yaml:3: axes.u: levels must be a list or an '@file:' include, not str 'oops'",
        id="axis-not-a-list",
    ),
    pytest.param(
        "axes:\n  t: [a\noutput: {}\n",
        {}, False, "config.yaml:3: not valid YAML",
        id="yaml-syntax",
    ),
    pytest.param(
        "axes:\n  t: [a]\nrules:\n  ties:\n    both:\n      axes: [t, missing]\noutput:\n  field_order: [t]\n",
        {}, True, "config.yaml:5: tie 'both' names 'missing', which is not an axis at this point",
        id="tie-unknown-axis",
    ),
    pytest.param(
        "axes: {}\nrules:\n  tuples:\n    b:\n      axes: [x, y]\n      items: '@file:items/b.csv'\noutput:\n  field_order: [x]\n",
        {"items/b.csv": "x,y\nx1,\n"}, False, "b.csv:2: column 'y' is empty. Fix: fill every column",
        id="csv-include-empty-cell",
    ),
    pytest.param(
        "axes: {}\nrules:\n  tuples:\n    b:\n      axes: [x, y]\n      items: '@file:items/b.csv'\noutput:\n  field_order: [x]\n",
        {"items/b.csv": "y,x\ny1,x1\n"}, False, "b.csv:1: the columns are y,x but the rule lists x,y: values are read by position. Fix: reorder the columns to x,y",
        id="csv-include-columns-swapped",
    ),
    pytest.param(
        "axes:\n  t: [a]\nrules:\n  pairs:\n    p:\n      left: t\n      right: t\n      allowed: [[a, a]]\noutput:\n  field_order: [t]\n",
        {}, False, "config.yaml:5: rules.pairs.p: left and right are both 't'. Fix: pair two different axes",
        id="pair-same-axis",
    ),
    pytest.param(
        "axes:\n  t: [a]\nrule:\n  subsets: {}\noutput:\n  field_order: [t]\n",
        {}, False, "config.yaml:3: rule: unknown top-level key. Fix: keep only 'axes', 'rules' and 'output'",
        id="unknown-top-level-key",
    ),
]


@pytest.mark.parametrize(("text", "files", "compile_it", "message"), ERROR_CASES)
def test_mistakes_name_file_line_and_fix(tmp_path: Path, text: str, files: dict[str, str], compile_it: bool, message: str) -> None:
    spec_path = write_spec(tmp_path, text, files)
    shown = problem_of(spec_path, compile_it=compile_it)
    assert message in shown
    assert "Fix: " in shown
    assert str(spec_path.parent) in shown  # the spec (or its include) by full path


def test_missing_spec_file_names_it(tmp_path: Path) -> None:
    shown = problem_of(tmp_path / "cohorts" / "c1" / "spec")
    assert f"{tmp_path / 'cohorts' / 'c1' / 'spec' / 'config.yaml'}: the spec file is missing. Fix: create it" in shown


def test_in_memory_specs_name_their_source_without_a_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        parse_spec_mapping({"axes": {"t": ["a"]}, "rules": [], "output": {"field_order": ["t"]}}, source=tmp_path / "mem.json")
    assert str(caught.value).startswith(f"{tmp_path / 'mem.json'}: rules: must be a mapping")
