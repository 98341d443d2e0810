"""What a loaded cohort spec is: its axes, its rules in the order written, its column order.

Every rule and every listed entry keeps its :class:`Origin` (the spec file, or the ``@file:``
include, and the line) so that a problem found while compiling still names where to fix it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daydreaming_dagster.inputs.reader import InputError, InputProblem

#: A level of an axis: a YAML/JSON scalar as written (``'1'`` stays a string, ``1`` an int), or a
#: tuple (a row of a multi-column include, or a pair/tuple value).
Level = Hashable

Balance = Literal["left", "right", "both"]
BALANCES: tuple[Balance, ...] = ("left", "right", "both")


@dataclass(frozen=True)
class Origin:
    """Where something was written: a file and its 1-based line (None when unknown, e.g. JSON)."""

    file: Path
    line: int | None = None


def spec_error(origin: Origin, problem: str, fix: str) -> InputError:
    """One problem of a spec, as the InputError the rest of the inputs layer raises."""
    return InputError([InputProblem(origin.file, origin.line, None, problem, fix)])


@dataclass(frozen=True)
class SubsetRule:
    """Keep only ``keep`` among the axis's levels (in the axis's order)."""

    axis: str
    keep: tuple[Level, ...]
    origin: Origin


@dataclass(frozen=True)
class TieRule:
    """The axes take the same value: their common levels, under the tie's name, then copied back."""

    name: str
    axes: tuple[str, ...]
    origin: Origin


@dataclass(frozen=True)
class PairRule:
    """Only the ``allowed`` (left, right) pairs, as one synthetic axis named ``name``."""

    name: str
    left: str
    right: str
    allowed: tuple[tuple[Level, Level], ...]
    allowed_origins: tuple[Origin, ...]
    balance: Balance | None
    origin: Origin


@dataclass(frozen=True)
class TupleRule:
    """Only the listed ``items``, one value per axis, as one synthetic axis named ``name``."""

    name: str
    axes: tuple[str, ...]
    items: tuple[tuple[Level, ...], ...]
    item_origins: tuple[Origin, ...]
    origin: Origin


Rule = SubsetRule | TieRule | PairRule | TupleRule


@dataclass(frozen=True)
class Spec:
    """A cohort spec, validated in shape; :func:`compile_design` checks the values against each other.

    ``axes`` holds the declared axes in file order, then the axes whose levels come from tuple rules
    (``derived_axes``), in order of first appearance. ``rules`` keep the order of the spec's rule
    sections (upstream applies them in that order: a pair may consume an earlier tuple).
    """

    source: Path
    axes: Mapping[str, tuple[Level, ...]]
    derived_axes: frozenset[str]
    rules: tuple[Rule, ...]
    field_order: tuple[str, ...]
    origin: Origin
