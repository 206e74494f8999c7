"""Data files shipped with the package, each read by one loader here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources

__all__ = ["import_error_codes"]


@cache
def import_error_codes() -> Mapping[str, Mapping[str, str]]:
    """The importer's error table (``get_error_text`` by code, as a string), read once.

    Copied from the server's ``config/initializers/carto_db.rb``: ``title``, ``what_about``
    and ``source`` of every code.
    """
    text = resources.files(__name__).joinpath("import_error_codes.json").read_text("utf-8")
    table: dict[str, dict[str, str]] = json.loads(text)
    return table
