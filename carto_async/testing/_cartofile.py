"""``.carto`` files: a map and its datasets in one zip, written by exports, read by imports.

The archive holds ``<map name>.carto.json`` (format version, the visualization: name, privacy,
description, tags, layers, and the list of its datasets) and one ``<table>.geojson`` per
dataset with every row (``cartodb_id`` included, so row ids survive the round trip). Reading
it back loads each dataset through the normal loader (collision rules apply: an existing
``stores`` makes the copy ``stores_1``, and the map's layers follow the new names) and
recreates the map.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from carto_async.testing._staging import ImportFailure

if TYPE_CHECKING:
    from carto_async.testing._db import Database
    from carto_async.testing._visualizations import Visualization, Visualizations

__all__ = [
    "CARTO_FORMAT_VERSION",
    "CartoImport",
    "Feature",
    "is_carto_file",
    "load_carto",
    "quote",
    "read_features",
    "write_carto",
]

CARTO_FORMAT_VERSION = "2.1.1"
_GEOMETRY_COLUMNS = frozenset(("the_geom", "the_geom_webmercator"))
_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")
# Where a layer's SQL names its table: "select * from stores" and the like.
_FROM_RE = r"(\bfrom\s+){table}\b"


def quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def is_carto_file(filename: str) -> bool:
    """Whether ``filename`` names a ``.carto`` export."""
    return filename.lower().endswith(".carto")


@attrs.frozen
class Feature:
    """One row of a table: its properties and its geometry as a GeoJSON object."""

    properties: dict[str, Any]
    geometry: dict[str, Any] | None


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def read_features(
    db: Database,
    table: str,
    *,
    where: str = "",
    params: Sequence[Any] = (),
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[tuple[str, str]], list[Feature]]:
    """``(columns, features)`` of ``table``: non-geometry columns and its rows by cartodb_id.

    ``where`` (SQL with ``?`` placeholders bound to ``params``), ``limit`` and ``offset``
    select a page of rows.
    """
    described = db.table_columns(table)
    columns = [(c, t) for c, t in described if c not in _GEOMETRY_COLUMNS]
    has_geom = any(c == "the_geom" for c, _ in described)
    selected = ", ".join(quote(c) for c, _ in columns) or "1"
    geom = "ST_AsGeoJSON(the_geom)" if has_geom else "NULL"
    sql = f"SELECT {geom}, {selected} FROM {quote(table)}"  # noqa: S608 - quoted names
    if where:
        sql += f" WHERE {where}"
    if any(c == "cartodb_id" for c, _ in columns):
        sql += " ORDER BY cartodb_id"
    bound = list(params)
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        bound += [limit, offset]
    result = db.execute(sql, bound)
    features: list[Feature] = []
    for row in result.rows:
        shape = json.loads(row[0]) if isinstance(row[0], str) and row[0] else None
        props = {name: _plain(value) for (name, _), value in zip(columns, row[1:], strict=False)}
        features.append(Feature(props, shape))
    return columns, features


def _geojson(features: list[Feature]) -> bytes:
    document = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": f.properties, "geometry": f.geometry}
            for f in features
        ],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _file_name(name: str) -> str:
    return _SAFE_NAME_RE.sub("_", name).strip("_.") or "map"


def write_carto(
    db: Database, vis: Visualization, tables: list[str], path: str, *, username: str
) -> None:
    """Write ``vis`` and the rows of ``tables`` as a ``.carto`` zip at ``path``."""
    datasets = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in tables:
            columns, features = read_features(db, table)
            member = f"{_file_name(table)}.geojson"
            archive.writestr(member, _geojson(features))
            datasets.append(
                {"name": table, "file": member, "rows": len(features), "columns": columns}
            )
        document = {
            "version": CARTO_FORMAT_VERSION,
            "visualization": {
                "id": vis.id,
                "name": vis.name,
                "type": vis.type,
                "privacy": vis.privacy,
                "description": vis.description,
                "tags": vis.tags,
                "layers": vis.layers,
                "user": {"username": username},
            },
            "datasets": datasets,
        }
        archive.writestr(f"{_file_name(vis.name)}.carto.json", json.dumps(document, indent=2))


@attrs.frozen
class CartoImport:
    """What re-importing a ``.carto`` file created."""

    table_names: list[str]
    rows: int
    visualization_id: str


def _document(archive: zipfile.ZipFile) -> dict[str, Any]:
    names = [n for n in archive.namelist() if n.endswith(".carto.json")]
    if len(names) != 1:
        raise ImportFailure(1002, "not a .carto file: no visualization in it")
    try:
        document = json.loads(archive.read(names[0]))
    except ValueError:
        raise ImportFailure(1002, "not a .carto file: unreadable visualization") from None
    if not isinstance(document, dict) or not isinstance(document.get("visualization"), dict):
        raise ImportFailure(1002, "not a .carto file: unreadable visualization")
    return document


def _renamed_layers(layers: Any, renames: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for given in layers if isinstance(layers, list) else []:
        if not isinstance(given, dict):
            continue
        layer: dict[str, Any] = json.loads(json.dumps(given))  # a deep copy of plain JSON
        options = layer.get("options")
        if isinstance(options, dict) and options.get("table_name") in renames:
            old = options["table_name"]
            new = renames[old]
            options["table_name"] = new
            options["layer_name"] = (
                new if options.get("layer_name") == old else options.get("layer_name")
            )
            if isinstance(options.get("sql"), str):
                options["sql"] = re.sub(
                    _FROM_RE.format(table=re.escape(old)),
                    rf"\g<1>{new}",
                    options["sql"],
                    flags=re.I,
                )
        out.append(layer)
    return out


def load_carto(
    path: str,
    *,
    directory: str,
    load: Callable[[str, str], list[str]],
    visualizations: Visualizations,
    max_size: int,
) -> CartoImport:
    """Recreate the map and datasets of the ``.carto`` file at ``path``.

    ``load(filename, path)`` loads one dataset file through the importer and returns the
    tables it created. Raises :class:`ImportFailure` for a file that is not a ``.carto`` (1002)
    and for a dataset larger than ``max_size`` once unpacked (6666).
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ImportFailure(1002, "not a .carto file: not a zip archive") from None
    renames: dict[str, str] = {}
    created: list[str] = []
    rows = 0
    with archive:
        document = _document(archive)
        listed = document.get("datasets")
        datasets: list[Any] = listed if isinstance(listed, list) else []
        for dataset in datasets:
            if not isinstance(dataset, dict) or not isinstance(dataset.get("file"), str):
                continue
            name = str(dataset.get("name") or os.path.splitext(dataset["file"])[0])
            try:
                size = archive.getinfo(dataset["file"]).file_size
            except KeyError:
                raise ImportFailure(1002, f"not a .carto file: {dataset['file']} missing") from None
            if size > max_size:  # checked before anything is unpacked
                raise ImportFailure(6666)
            fd, tmp = tempfile.mkstemp(prefix="carto-", suffix=".geojson", dir=directory)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(archive.read(dataset["file"]))
                tables = load(f"{name}.geojson", tmp)
            except KeyError:
                raise ImportFailure(1002, f"not a .carto file: {dataset['file']} missing") from None
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if tables:
                renames[name] = tables[0]
                created.extend(tables)
                rows += int(dataset.get("rows") or 0)
    vis_doc: dict[str, Any] = document["visualization"]
    tables_of_map = [renames.get(t, t) for t in renames]
    vis = visualizations.create_map(
        str(vis_doc.get("name") or "Untitled map"),
        tables_of_map,
        privacy=str(vis_doc.get("privacy") or "private"),
        layers=_renamed_layers(vis_doc.get("layers"), renames) or None,
        description=vis_doc.get("description")
        if isinstance(vis_doc.get("description"), str)
        else None,
        tags=[str(t) for t in vis_doc.get("tags") or [] if isinstance(t, str)],
    )
    return CartoImport(created, rows, vis.id)
