"""Ids that become file names: accept only safe single path segments."""

from __future__ import annotations

import re

from daydreaming_dagster.core import settings
from daydreaming_dagster.core.errors import UnsafeIdError

# Letters, digits and . _ - : ; never a separator, never "." or "..", never leading dot.
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._:-]{0,199}$")


def is_safe_segment(value: str) -> bool:
    return bool(_SAFE_SEGMENT.match(value)) and ".." not in value


def require_safe_segment(value: object, *, what: str, where: str = "") -> str:
    """Return ``value`` if it can be used as one path segment, else raise UnsafeIdError.

    ``what`` names the id (e.g. "template_id"), ``where`` the file and row it came from.
    """
    text = value if isinstance(value, str) else str(value)
    if not is_safe_segment(text):
        loc = f" in {where}" if where else ""
        raise UnsafeIdError(
            f"{what} {text!r}{loc} cannot be used as a file name: use only letters, digits, "
            "'.', '_', '-' or ':' (no '/', '\\', '..' or leading dot), at most 200 characters."
        )
    return text


DATA_ROOT_ENV = settings.DATA_ROOT


def default_data_root() -> str:
    """``$DD_DATA_ROOT``, else ``data``: the CLI's and ``dagster dev``'s default data root."""
    return settings.default_data_root()
