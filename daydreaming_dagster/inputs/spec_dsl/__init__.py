"""Cohort specs: upstream HEAD's spec language, read and compiled into design rows.

A cohort is a spec at ``<data root>/cohorts/<id>/spec/config.yaml``: ``axes`` (levels inline or
from ``@file:`` includes beside the spec), ``rules`` (``subsets``, ``ties``, ``pairs``,
``tuples``, applied in the order written) and ``output.field_order``. :func:`load_spec` reads and
checks the shape; :func:`compile_design` gives the rows upstream's compiler gives, same order,
same values (``'1'`` stays a string, ``1`` an int). Every problem is an ``InputError`` naming the
file, the line when known, and the fix. ``cohort.spec_plan`` turns rows into generations.
"""

from daydreaming_dagster.inputs.spec_dsl.compiler import DesignRow, compile_design
from daydreaming_dagster.inputs.spec_dsl.loader import SPEC_FILE_NAME, load_spec, parse_spec_mapping
from daydreaming_dagster.inputs.spec_dsl.model import (
    Level,
    Origin,
    PairRule,
    Rule,
    Spec,
    SubsetRule,
    TieRule,
    TupleRule,
)

__all__ = [
    "SPEC_FILE_NAME",
    "DesignRow",
    "Level",
    "Origin",
    "PairRule",
    "Rule",
    "Spec",
    "SubsetRule",
    "TieRule",
    "TupleRule",
    "compile_design",
    "load_spec",
    "parse_spec_mapping",
]
