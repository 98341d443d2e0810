"""What each model of a cohort costs, and whether the provider knows its model strings.

- ``fetch_catalogues``: one ``GET /models`` per server the run's remote models go to. A server
  without a list, or one that cannot answer now, gives a warning, never a failure.
- ``model_problems``: remote model strings the server's list does not name, each with its row of
  llm_models.csv (file:line) and the closest known ids.
- ``resolve_prices``: per model id, USD per token, first found of: the price columns of
  llm_models.csv (``prompt_usd_per_mtok``, ``completion_usd_per_mtok``); 0 for local models; the
  provider's ``/models`` prices, cached with their date in ``<data_root>/cache/prices.json`` (the
  cache answers when the server cannot); else unknown. Unknown is never free.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from daydreaming_dagster.inputs import RawData
from daydreaming_dagster.inputs.types import MODELS_CSV, PRICE_COLUMNS
from daydreaming_dagster.llm import LLMClient, LLMError, ModelInfo, PriceBook
from daydreaming_dagster.llm.catalog import closest_ids, is_listed

logger = logging.getLogger("daydreaming_dagster.cohort")

#: Where provider prices are cached, under the data root.
PRICES_FILE = Path("cache") / "prices.json"

SOURCE_CSV = "llm_models.csv"
SOURCE_LOCAL = "local (free)"
SOURCE_UNKNOWN = "unknown"


def server_name(endpoint: str) -> str:
    """``openai_compatible:https://x/v1`` -> ``https://x/v1`` (for messages)."""
    return endpoint.split(":", 1)[1] if endpoint.startswith("openai_compatible:") else endpoint


@dataclass(frozen=True)
class ModelPrice:
    """USD per token of one model id; None when unknown (never treated as free)."""

    model_id: str
    prompt: float | None
    completion: float | None
    source: str  # SOURCE_CSV, SOURCE_LOCAL, "provider /models <date fetched>" or SOURCE_UNKNOWN

    @property
    def known(self) -> bool:
        return self.prompt is not None and self.completion is not None

    def per_token(self) -> tuple[float, float] | None:
        """(prompt, completion) USD per token, or None when unknown."""
        if self.prompt is None or self.completion is None:
            return None
        return (self.prompt, self.completion)

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float | None:
        if self.prompt is None or self.completion is None:
            return None
        return prompt_tokens * self.prompt + completion_tokens * self.completion

    def per_mtok(self) -> tuple[float, float] | None:
        """(prompt, completion) USD per million tokens, or None."""
        if self.prompt is None or self.completion is None:
            return None
        return (self.prompt * 1e6, self.completion * 1e6)


@dataclass(frozen=True)
class Catalogue:
    """The model list of one server, as far as it could be fetched."""

    endpoint: str
    model_ids: tuple[str, ...]  # the llm_models.csv ids this run sends there
    models: tuple[ModelInfo, ...] | None  # None: no list (none served, or not fetched now)
    problem: str | None = None  # why there is no list

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models or ()]


@dataclass
class Catalogues:
    """Catalogues per endpoint, and the warnings saying which model strings were not checked."""

    by_endpoint: dict[str, Catalogue] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def fetched(self) -> list[Catalogue]:
        return [c for c in self.by_endpoint.values() if c.models is not None]


def fetch_catalogues(client: LLMClient, model_ids: Iterable[str]) -> Catalogues:
    """One ``/models`` request per server serving the remote ``model_ids`` (local ones: none)."""
    groups: dict[str, list[str]] = {}
    for model_id in sorted(set(model_ids)):
        route = client.route(model_id)
        if route.is_local:
            continue
        groups.setdefault(client.endpoint(model_id), []).append(model_id)
    out = Catalogues()
    for endpoint, ids in groups.items():
        server = server_name(endpoint)
        try:
            models = client.list_models(ids[0])
        except LLMError as exc:
            problem = f"could not fetch its model list ({exc})"
            out.by_endpoint[endpoint] = Catalogue(endpoint, tuple(ids), None, problem)
            out.warnings.append(
                f"{server}: {problem}; the model strings of {', '.join(ids)} were not checked "
                "(prices: llm_models.csv columns, else the cached ones, else unknown)."
            )
            continue
        if models is None:
            problem = "it serves no /models list"
            out.by_endpoint[endpoint] = Catalogue(endpoint, tuple(ids), None, problem)
            out.warnings.append(
                f"{server}: {problem}; the model strings of {', '.join(ids)} were not checked "
                f"(prices: llm_models.csv columns {', '.join(PRICE_COLUMNS)}, else unknown)."
            )
            continue
        out.by_endpoint[endpoint] = Catalogue(endpoint, tuple(ids), tuple(models))
    return out


def model_problems(client: LLMClient, catalogues: Catalogues, *, raw: RawData | None = None) -> list[str]:
    """One problem per remote model id whose model string its server's list does not name."""
    rows = {m.model_id: m for m in raw.models} if raw is not None else {}
    csv = raw.csv_path(MODELS_CSV) if raw is not None else Path(MODELS_CSV)
    problems: list[str] = []
    for catalogue in catalogues.fetched():
        known = catalogue.ids
        for model_id in catalogue.model_ids:
            route = client.route(model_id)
            if is_listed(route.model, known):
                continue
            row = rows.get(model_id)
            where = f"{csv}:{row.line}" if row is not None and row.line is not None else str(csv)
            close = closest_ids(route.model, known)
            hint = "closest known: " + ", ".join(repr(c) for c in close) if close else "no close match"
            problems.append(
                f"{where}: column 'model': model id {model_id!r} asks for {route.model!r}, which "
                f"{server_name(catalogue.endpoint)} does not serve ({hint}). Fix: write one of the "
                "server's model ids in that row"
            )
    return problems


def resolve_prices(
    raw: RawData,
    client: LLMClient,
    model_ids: Iterable[str],
    catalogues: Catalogues | None,
    *,
    data_root: Path | None = None,
) -> dict[str, ModelPrice]:
    """Prices per model id (see the module docstring); fetched lists refresh the price cache."""
    root = Path(data_root) if data_root is not None else raw.data_root
    path = root / PRICES_FILE
    book = PriceBook.load(path)
    fetched = catalogues.fetched() if catalogues is not None else []
    for catalogue in fetched:
        book.update(catalogue.endpoint, catalogue.models or ())
    if fetched:
        try:
            book.save(path)
        except OSError as exc:  # a cache: the run goes on
            logger.warning("could not write the price cache %s (%s)", path, exc)
    rows = {m.model_id: m for m in raw.models}
    out: dict[str, ModelPrice] = {}
    for model_id in sorted(set(model_ids)):
        row = rows.get(model_id)
        route = client.route(model_id)
        override = row.price_per_token if row is not None else None
        if override is not None:
            out[model_id] = ModelPrice(model_id, override[0], override[1], SOURCE_CSV)
        elif route.is_local:
            out[model_id] = ModelPrice(model_id, 0.0, 0.0, SOURCE_LOCAL)
        else:
            endpoint = client.endpoint(model_id)
            prices = book.lookup(endpoint, route.model)
            if prices is None:
                out[model_id] = ModelPrice(model_id, None, None, SOURCE_UNKNOWN)
            else:
                when = book.fetched_at(endpoint)
                out[model_id] = ModelPrice(model_id, prices[0], prices[1], _provider_source(when))
    return out


def _provider_source(when: date | None) -> str:
    return f"provider /models {when.isoformat()}" if when is not None else "provider /models"


def unknown_prices(prices: Mapping[str, ModelPrice], model_ids: Iterable[str]) -> list[str]:
    """The model ids among ``model_ids`` whose price is unknown."""
    return sorted({m for m in model_ids if m not in prices or not prices[m].known})


def unknown_price_message(raw: RawData, model_ids: Iterable[str]) -> str:
    """Why a capped run cannot start: which rows lack a price, and the two ways out."""
    rows = {m.model_id: m for m in raw.models}
    csv = raw.csv_path(MODELS_CSV)
    lines = []
    for model_id in model_ids:
        row = rows.get(model_id)
        where = f"{csv}:{row.line}" if row is not None and row.line is not None else str(csv)
        lines.append(f"  - {where}: model id {model_id!r} ({row.model if row else '?'}): price unknown")
    return (
        "A spending cap needs every model's price, and these are unknown (the provider's /models "
        "gives none for them):\n" + "\n".join(lines) + "\nFix: add the columns "
        f"{PRICE_COLUMNS[0]},{PRICE_COLUMNS[1]} (USD per million tokens) to {csv.name} for those rows, "
        "or run with --allow-unknown-prices (their calls then count only with the cost the server reports)."
    )
