"""The user's inputs (``<data_root>/1_raw``): read, validated and typed, before any paid call.

``reader`` collects CSV problems, ``types`` holds the values, ``loaders`` builds ``RawData``, and
``combinations`` derives the content combinations a cohort runs over.
"""

from daydreaming_dagster.inputs.loaders import load_raw_data
from daydreaming_dagster.inputs.reader import InputError, InputProblem, read_csv_table
from daydreaming_dagster.inputs.types import Concept, ModelRow, RawData, TemplateKind, TemplateRow

__all__ = [
    "Concept",
    "InputError",
    "InputProblem",
    "ModelRow",
    "RawData",
    "TemplateKind",
    "TemplateRow",
    "load_raw_data",
    "read_csv_table",
]
