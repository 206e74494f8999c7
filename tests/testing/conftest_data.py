"""Helpers for the data-layer tests (imported explicitly; pytest does not load this file)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from carto_async.testing._db import Database
from carto_async.testing._loader import LoadResult, load_file
from carto_async.testing._staging import LoadOptions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(*parts: str) -> Any:
    """A reference fixture (a real CARTO payload)."""
    return json.loads(FIXTURES.joinpath(*parts).read_text(encoding="utf-8"))


def write(directory: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``content`` to ``directory/name`` and return the path."""
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def load(
    db: Database, directory: Path, name: str, content: str | bytes, **options: Any
) -> LoadResult:
    """Write a file and import it with :func:`load_file`."""
    path = write(directory, name, content)
    return load_file(db, name, str(path), LoadOptions(**options))


def rows(db: Database, sql: str) -> list[dict[str, Any]]:
    """Rows of a query as dictionaries keyed by (PostgreSQL) column name."""
    result = db.execute(sql)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def columns(db: Database, table: str) -> dict[str, str]:
    """Declared type of each column of ``table``."""
    return dict(db.table_columns(table))


def zipped(members: dict[str, str | bytes]) -> bytes:
    """A zip archive holding ``members`` (name -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def feature_collection(*features: dict[str, Any], **extra: Any) -> str:
    """A GeoJSON FeatureCollection document."""
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra})


def feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    """One GeoJSON Feature."""
    return {"type": "Feature", "geometry": geometry, "properties": properties}
