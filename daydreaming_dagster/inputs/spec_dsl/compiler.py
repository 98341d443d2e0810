"""Compiling a spec into design rows, exactly as upstream HEAD's compiler does.

Axis levels are de-duplicated, then the rules apply in the spec's order, each replacing axes:
a subset filters one axis; a tie replaces its axes by their common levels under the tie's name;
a pair or a tuple replaces its axes by one synthetic axis of allowed combinations, at the place of
its first axis. The Cartesian product of what is left gives one row per combination; each row
is then expanded back (pairs, then tuples, then ties) and reordered by ``output.field_order``
(listed fields first, the others in row order).

Kept from upstream on purpose, because the rows are the contract: a tie's name stays in the rows
as a column of its own (unless it is one of the tied axes), and a tied axis consumed by a later
pair or tuple is not copied back.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Hashable, Iterable

from daydreaming_dagster.inputs.spec_dsl.model import (
    Level,
    Origin,
    PairRule,
    Spec,
    SubsetRule,
    TieRule,
    TupleRule,
    spec_error,
)

DesignRow = dict[str, object]


_REACHABLE_AXIS_FIX = (
    "name a declared axis; an axis already taken by an earlier pair or tuple is reachable only "
    "through that rule's name (rules apply in the order written)"
)


class _Design:
    """The axes while rules apply: levels by axis, their order, and how to expand rows back."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.order: list[str] = list(spec.axes)
        self.levels: dict[str, list[Level]] = {name: _dedupe(spec.axes[name]) for name in self.order}
        self.tie_back: dict[str, str] = {}  # tied axis -> the tie's name
        self.pairs: dict[str, tuple[str, str]] = {}  # pair name -> (left, right) as written
        self.tuples: dict[str, tuple[str, ...]] = {}  # tuple name -> axes as written

    def resolve(self, axis: str) -> str:
        return self.tie_back.get(axis, axis)

    def require_axis(
        self, axis: str, origin: Origin, rule: str, *, follow_ties: bool = True, fix: str = _REACHABLE_AXIS_FIX
    ) -> str:
        """The axis ``rule`` names, through ties unless ``follow_ties`` is off (upstream's ties do not)."""
        resolved = self.resolve(axis) if follow_ties else axis
        if resolved not in self.levels:
            raise spec_error(
                origin,
                f"{rule} names {axis!r}, which is not an axis at this point (axes now: {', '.join(self.order)})",
                fix,
            )
        return resolved

    def require_new_name(self, name: str, origin: Origin, rule: str, own_axes: tuple[str, ...] = ()) -> None:
        if name in self.levels and name not in own_axes:
            raise spec_error(origin, f"{rule}: {name!r} is already an axis", "give the rule a name no axis has")

    def remove(self, axis: str) -> None:
        self.levels.pop(axis, None)
        if axis in self.order:
            self.order.remove(axis)


def compile_design(spec: Spec, *, seed: int | None = None) -> list[DesignRow]:
    """The spec's design rows, in upstream's order (shuffled with ``random.Random(seed)`` if given).

    Raises InputError naming the spec (or include) line when the rules contradict the levels.
    """
    design = _Design(spec)
    for rule in spec.rules:
        if isinstance(rule, SubsetRule):
            _apply_subset(design, rule)
        elif isinstance(rule, TieRule):
            _apply_tie(design, rule)
        elif isinstance(rule, PairRule):
            _apply_pair(design, rule)
        else:
            _apply_tuple(design, rule)

    combinations = list(itertools.product(*(design.levels[name] for name in design.order)))
    if seed is not None:
        random.Random(seed).shuffle(combinations)
    return [_finish_row(design, dict(zip(design.order, values, strict=True))) for values in combinations]


def _dedupe(values: Iterable[Level]) -> list[Level]:
    seen: set[Hashable] = set()
    kept: list[Level] = []
    for value in values:
        if value not in seen:
            seen.add(value)
            kept.append(value)
    return kept


def _shown(levels: Iterable[Level]) -> str:
    return ", ".join(repr(level) for level in levels)


def _apply_subset(design: _Design, rule: SubsetRule) -> None:
    if rule.axis not in design.levels:  # upstream does not follow ties here
        raise spec_error(
            rule.origin,
            f"subset of {rule.axis!r}: not an axis at this point (axes now: {', '.join(design.order)})",
            "name a declared axis, and put subsets before the ties, pairs and tuples that use it",
        )
    keep = set(rule.keep)
    kept = [level for level in design.levels[rule.axis] if level in keep]
    if not kept:
        raise spec_error(
            rule.origin,
            f"subset of {rule.axis!r} keeps none of its levels ({_shown(design.levels[rule.axis])})",
            "list at least one of the axis's levels (mind '1' versus 1: quoted values are strings)",
        )
    design.levels[rule.axis] = kept


def _apply_tie(design: _Design, rule: TieRule) -> None:
    for axis in rule.axes:
        design.require_axis(
            axis, rule.origin, f"tie {rule.name!r}", follow_ties=False,
            fix="tie only declared axes, before any pair or tuple uses them",
        )
    design.require_new_name(rule.name, rule.origin, f"tie {rule.name!r}", rule.axes)
    others = [set(design.levels[axis]) for axis in rule.axes[1:]]
    common = [level for level in design.levels[rule.axes[0]] if all(level in other for other in others)]
    if not common:
        raise spec_error(
            rule.origin,
            f"tie {rule.name!r}: the axes {', '.join(rule.axes)} have no level in common",
            "give the tied axes at least one common level",
        )
    design.levels[rule.name] = common
    if rule.name not in design.order:
        design.order.insert(min(design.order.index(axis) for axis in rule.axes), rule.name)
    design.tie_back.setdefault(rule.name, rule.name)
    for axis in rule.axes:
        design.tie_back[axis] = rule.name
        if axis != rule.name:
            design.remove(axis)


def _apply_pair(design: _Design, rule: PairRule) -> None:
    left = design.require_axis(rule.left, rule.origin, f"pair {rule.name!r}")
    right = design.require_axis(rule.right, rule.origin, f"pair {rule.name!r}")
    design.require_new_name(rule.name, rule.origin, f"pair {rule.name!r}")
    if not rule.allowed:
        raise spec_error(rule.origin, f"pair {rule.name!r} allows no pair", "list at least one [left, right] pair under allowed")
    domains = (set(design.levels[left]), set(design.levels[right]))
    pairs: list[tuple[Level, Level]] = []
    for pair, origin in zip(rule.allowed, rule.allowed_origins, strict=True):
        for side, axis, value, domain in (("left", rule.left, pair[0], domains[0]), ("right", rule.right, pair[1], domains[1])):
            if value not in domain:
                raise spec_error(
                    origin,
                    f"pair {rule.name!r}: {side} value {value!r} is not a level of {axis!r} ({_shown(design.levels[design.resolve(axis)])})",
                    f"use one of {axis}'s levels, or add {value!r} to {axis}",
                )
        if pair not in pairs:
            pairs.append(pair)
    if rule.balance in ("left", "both"):
        _check_balance(pairs, 0, rule, rule.left)
    if rule.balance in ("right", "both"):
        _check_balance(pairs, 1, rule, rule.right)

    at = min(design.order.index(left), design.order.index(right))
    design.levels[rule.name] = list(pairs)
    design.pairs[rule.name] = (rule.left, rule.right)
    for axis in {left, right}:
        design.remove(axis)
    design.order.insert(at, rule.name)


def _check_balance(pairs: list[tuple[Level, Level]], side: int, rule: PairRule, axis: str) -> None:
    counts = Counter(pair[side] for pair in pairs)
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{value!r}: {count}" for value, count in counts.items())
        raise spec_error(
            rule.origin,
            f"pair {rule.name!r} is not balanced on {axis!r} (balance: {rule.balance}): pairs per value {detail}",
            f"give every {axis} value the same number of allowed pairs, or remove balance",
        )


def _apply_tuple(design: _Design, rule: TupleRule) -> None:
    resolved = [design.require_axis(axis, rule.origin, f"tuple {rule.name!r}") for axis in rule.axes]
    design.require_new_name(rule.name, rule.origin, f"tuple {rule.name!r}")
    domains = [set(design.levels[axis]) for axis in resolved]
    items: list[tuple[Level, ...]] = []
    for item, origin in zip(rule.items, rule.item_origins, strict=True):
        for axis, value, domain, actual in zip(rule.axes, item, domains, resolved, strict=True):
            if value not in domain:
                raise spec_error(
                    origin,
                    f"tuple {rule.name!r}: {value!r} is not a level of {axis!r} ({_shown(design.levels[actual])})",
                    f"use one of {axis}'s levels, or add {value!r} to {axis}",
                )
        if item not in items:
            items.append(item)

    design.order.insert(min(design.order.index(axis) for axis in resolved), rule.name)
    design.levels[rule.name] = list(items)
    design.tuples[rule.name] = rule.axes
    for axis in resolved:
        design.remove(axis)


def _finish_row(design: _Design, row: DesignRow) -> DesignRow:
    # Pairs first: a pair's side may be a tuple, which the next loop then expands.
    for name, (left, right) in design.pairs.items():
        if name in row:
            pair = row.pop(name)
            assert isinstance(pair, tuple)
            row[left], row[right] = pair
    for name, axes in design.tuples.items():
        if name in row:
            item = row.pop(name)
            assert isinstance(item, tuple)
            row.update(zip(axes, item, strict=True))
    for axis, tie in design.tie_back.items():
        if axis != tie and tie in row and axis not in row:
            row[axis] = row[tie]
    listed = {field: row[field] for field in design.spec.field_order if field in row}
    return {**listed, **{key: value for key, value in row.items() if key not in listed}}
