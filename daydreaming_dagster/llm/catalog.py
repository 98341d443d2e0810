"""Model catalogues and prices: what a server says it serves, and what a token costs there.

- ``ModelInfo``: one entry of a server's ``/models`` list, with OpenRouter's per-token prices.
- ``parse_models_payload``: the JSON of ``GET /models`` -> ModelInfos.
- ``check_model_strings``: model strings of llm_models.csv that the catalogue does not list, each
  with the closest known ids.
- ``PriceBook``: a small JSON cache of prices per endpoint (``LLMClient.endpoint``), so runs can
  estimate costs when a server does not report ``usage.cost``.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ._types import LLMConfigurationError, ModelRoute, Usage

logger = logging.getLogger("daydreaming_dagster.llm")

#: OpenRouter routing suffixes that are valid on any listed model but not listed themselves.
ROUTING_SUFFIXES = frozenset({"nitro", "floor", "online"})


@dataclass(frozen=True)
class ModelInfo:
    """One model of a server's catalogue. Prices are USD per token (None = unknown/variable)."""

    id: str
    prompt_price: float | None = None
    completion_price: float | None = None

    @property
    def prices(self) -> tuple[float, float] | None:
        if self.prompt_price is None or self.completion_price is None:
            return None
        return (self.prompt_price, self.completion_price)


def parse_price(value: object) -> float | None:
    """A per-token price from OpenRouter's decimal string (or a number); None when absent,
    not a finite number, or negative (OpenRouter uses -1 for variable-priced routers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def parse_models_payload(payload: object) -> list[ModelInfo] | None:
    """ModelInfos from the JSON of ``GET /models`` (``{"data": [{"id": ..., "pricing": {...}}]}``;
    a bare list is accepted too). None when the payload is not a model list."""
    items = payload.get("data") if isinstance(payload, Mapping) else payload
    if not isinstance(items, list):
        return None
    models: list[ModelInfo] = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str) or not item["id"]:
            continue
        pricing = item.get("pricing")
        prompt = completion = None
        if isinstance(pricing, Mapping):
            prompt = parse_price(pricing.get("prompt"))
            completion = parse_price(pricing.get("completion"))
        models.append(ModelInfo(str(item["id"]), prompt, completion))
    return models


def _catalogue_ids(catalogue: Iterable[ModelInfo | str]) -> list[str]:
    return [m if isinstance(m, str) else m.id for m in catalogue]


def is_listed(model: str, ids: Iterable[str]) -> bool:
    """Whether ``model`` is in ``ids``, allowing OpenRouter routing suffixes (``:nitro``, ``:floor``,
    ``:online``) on a listed model."""
    known = set(ids)
    if model in known:
        return True
    base, sep, suffix = model.rpartition(":")
    return bool(sep) and suffix in ROUTING_SUFFIXES and base in known


def closest_ids(model: str, ids: Iterable[str], n: int = 3) -> list[str]:
    """The known ids closest to ``model`` (difflib), also matching on the part after the vendor."""
    pool = sorted(set(ids))
    found = difflib.get_close_matches(model, pool, n=n, cutoff=0.6)
    if len(found) < n:
        tails = {i.rsplit("/", 1)[-1]: i for i in pool}
        for tail in difflib.get_close_matches(model.rsplit("/", 1)[-1], list(tails), n=n, cutoff=0.6):
            if tails[tail] not in found:
                found.append(tails[tail])
    return found[:n]


def check_model_strings(
    routes: Mapping[str, ModelRoute] | Iterable[ModelRoute],
    catalogue: Iterable[ModelInfo | str] | None,
    *,
    source: str = "the server's model list",
) -> list[str]:
    """Problems for remote routes whose model string the catalogue does not list.

    Each problem names the llm_models.csv id, the model string and the closest known ids.
    Local routes are not checked. A None or empty catalogue means "unknown": no problems.
    """
    if catalogue is None:
        return []
    ids = _catalogue_ids(catalogue)
    if not ids:
        return []
    listed = routes.values() if isinstance(routes, Mapping) else routes
    problems: list[str] = []
    for route in listed:
        if route.is_local or is_listed(route.model, ids):
            continue
        close = closest_ids(route.model, ids)
        hint = f"closest known: {', '.join(repr(c) for c in close)}" if close else "no close match"
        problems.append(f"model id {route.model_id!r}: {route.model!r} is not in {source} ({hint})")
    return problems


@dataclass
class _Endpoint:
    fetched_at: str
    models: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


class PriceBook:
    """Per-token prices per endpoint, cached in a JSON file the caller chooses
    (``<data_root>/cache/prices.json``)::

        {"openai_compatible:https://openrouter.ai/api/v1":
            {"fetched_at": "2025-06-01", "models": {"anthropic/claude-sonnet-4": [3e-06, 1.5e-05]}}}
    """

    def __init__(self) -> None:
        self._endpoints: dict[str, _Endpoint] = {}

    def __repr__(self) -> str:
        sizes = {k: len(v.models) for k, v in self._endpoints.items()}
        return f"PriceBook({sizes!r})"

    @property
    def endpoints(self) -> list[str]:
        return sorted(self._endpoints)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PriceBook:
        """The book stored at ``path``; empty when the file does not exist or cannot be read
        (a cache: a corrupt file is logged and ignored, the next ``save`` replaces it)."""
        book = cls()
        file = Path(path)
        if not file.exists():
            return book
        try:
            data: Any = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable price cache %s (%s)", file, exc)
            return book
        if not isinstance(data, dict):
            logger.warning("ignoring price cache %s: not a JSON object", file)
            return book
        for endpoint, entry in data.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("models"), dict):
                continue
            models: dict[str, tuple[float | None, float | None]] = {}
            for model, prices in entry["models"].items():
                if isinstance(prices, list) and len(prices) == 2:
                    models[str(model)] = (parse_price(prices[0]), parse_price(prices[1]))
            book._endpoints[str(endpoint)] = _Endpoint(str(entry.get("fetched_at") or ""), models)
        return book

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the book atomically (temporary file in the same folder, then replace)."""
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            endpoint: {
                "fetched_at": entry.fetched_at,
                "models": {m: list(p) for m, p in sorted(entry.models.items())},
            }
            for endpoint, entry in sorted(self._endpoints.items())
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, indent=1, sort_keys=True)
                handle.write("\n")
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def update(self, endpoint: str, models: Iterable[ModelInfo], *, fetched_at: date | None = None) -> None:
        """Replace the prices of ``endpoint`` with ``models`` (fetched today unless told)."""
        if not endpoint:
            raise LLMConfigurationError("PriceBook.update needs an endpoint")
        when = fetched_at if fetched_at is not None else datetime.now(UTC).date()
        self._endpoints[endpoint] = _Endpoint(
            when.isoformat(), {m.id: (m.prompt_price, m.completion_price) for m in models}
        )

    def fetched_at(self, endpoint: str) -> date | None:
        entry = self._endpoints.get(endpoint)
        if entry is None:
            return None
        try:
            return date.fromisoformat(entry.fetched_at)
        except ValueError:
            return None

    def lookup(self, endpoint: str, model: str) -> tuple[float, float] | None:
        """(prompt, completion) USD per token, or None when the model or a price is unknown."""
        entry = self._endpoints.get(endpoint)
        prices = entry.models.get(model) if entry is not None else None
        if prices is None:
            base, sep, suffix = model.rpartition(":")
            if sep and suffix in ROUTING_SUFFIXES and entry is not None:
                prices = entry.models.get(base)
        if prices is None or prices[0] is None or prices[1] is None:
            return None
        return (prices[0], prices[1])

    def cost(self, endpoint: str, model: str, usage: Usage) -> float | None:
        """Estimated USD cost of ``usage`` at the cached prices; None when unknown."""
        prices = self.lookup(endpoint, model)
        if prices is None or usage.prompt_tokens is None or usage.completion_tokens is None:
            return None
        return usage.prompt_tokens * prices[0] + usage.completion_tokens * prices[1]
