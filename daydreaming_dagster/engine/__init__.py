"""The generation engine: one flow (``flow.py``) for every stage, over the gens store (``store.py``),
the generation record (``record.py``), the response cache (``cache.py``) and templates
(``templates.py``). Imports no Dagster."""
