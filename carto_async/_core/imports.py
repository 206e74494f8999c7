"""Import API requests, option validation and response parsing (sans-I/O; reference §4)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

import attrs

from carto_async._core.http import RequestSpec, Service
from carto_async.errors import APIError, ValidationError
from carto_async.models._converter import structure
from carto_async.models.imports import CollisionStrategy, ImportStatus, Privacy

__all__ = [
    "IMPORTS_PATH",
    "SUPPORTED_EXTENSIONS",
    "ImportOptionArgs",
    "ImportOptions",
    "LocalFile",
    "arcgis_url_problem",
    "check_import_id",
    "create_request",
    "describe_local_file",
    "has_supported_extension",
    "list_request",
    "parse_created",
    "parse_list",
    "parse_status",
    "status_request",
    "upload_request",
    "url_problem",
]

IMPORTS_PATH = "/api/v1/imports"

#: File types the CARTO importer accepts (archives may hold any of them).
SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".csv",
    ".tsv",
    ".txt",
    ".xls",
    ".xlsx",
    ".ods",
    ".geojson",
    ".json",
    ".kml",
    ".kmz",
    ".gpx",
    ".osm",
    ".bz2",
    ".gpkg",
    ".zip",
    ".gz",
    ".tgz",
    ".tar.gz",
    ".carto",
    ".tif",
    ".tiff",
)

# The server looks imports up by UUID; anything else is a 404 there, so say so here.
_IMPORT_ID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}$"
)


# An ArcGIS Server REST URL: .../rest/services/[<folder>/]<service>/<type>/<layer> for a layer,
# or ending in /<type>/ for a whole service (reference §6).
_ARCGIS_RE = re.compile(
    r"^https?://[^/?#\s]+(?:/[^/?#\s]+)*/rest/services/(?:[^/?#\s]+/)?[^/?#\s]+/"
    r"(?P<type>[A-Za-z]+Server)/(?P<layer>\d+)?$"
)


def url_problem(url: object) -> str | None:
    """Why ``url`` cannot be imported or synced (``None`` if it can): an http(s) or ftp URL."""
    if not isinstance(url, str) or not re.match(r"^(https?|ftp)://\S+$", url, re.IGNORECASE):
        return f"url must be an http(s) or ftp URL, got {url!r}"
    return None


def arcgis_url_problem(url: object) -> str | None:
    """Why ``url`` is not an ArcGIS layer or service URL (``None`` if it is one)."""
    if isinstance(url, str) and _ARCGIS_RE.match(url):
        return None
    return (
        f"not an ArcGIS Server layer or service URL: {url!r}; give a layer "
        "(https://host/arcgis/rest/services/<folder>/<service>/FeatureServer/<layer id>) or a "
        "whole service (https://host/arcgis/rest/services/<folder>/<service>/MapServer/)"
    )


def has_supported_extension(name: str) -> bool:
    """True when the importer knows the file type of ``name``."""
    return name.lower().endswith(SUPPORTED_EXTENSIONS)


def check_import_id(import_id: str) -> str:
    """Return ``import_id`` if it is a UUID, else raise :class:`ValidationError`."""
    if not isinstance(import_id, str) or not _IMPORT_ID_RE.match(import_id):
        raise ValidationError(f"invalid import id {import_id!r}: import ids are UUIDs")
    return import_id.lower()


def _bool_option(problems: list[str], name: str, value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    problems.append(f"{name} must be True or False, got {value!r}")
    return None


def _enum_option(
    problems: list[str], name: str, value: object, enum: type[Privacy] | type[CollisionStrategy]
) -> str | None:
    if value is None:
        return None
    raw = value.value if isinstance(value, enum) else value
    if isinstance(raw, str) and raw.lower() in {m.value for m in enum}:
        return raw.lower()
    allowed = ", ".join(repr(m.value) for m in enum)
    problems.append(f"{name} must be one of {allowed}, got {value!r}")
    return None


class ImportOptionArgs(TypedDict, total=False):
    """The import options every create method takes as keywords (``None``: server default).

    Written once: :class:`ImportOptions` has the same fields (a test keeps them equal), and
    every method takes them as ``**options: Unpack[ImportOptionArgs]``.
    """

    type_guessing: bool | None
    quoted_fields_guessing: bool | None
    content_guessing: bool | None
    create_vis: bool | None
    collision_strategy: CollisionStrategy | str | None
    privacy: Privacy | str | None


_ENUM_OPTIONS: dict[str, type[Privacy] | type[CollisionStrategy]] = {
    "collision_strategy": CollisionStrategy,
    "privacy": Privacy,
}


@attrs.frozen
class ImportOptions:
    """Validated import options; ``None`` leaves the server's default."""

    type_guessing: bool | None = None
    quoted_fields_guessing: bool | None = None
    content_guessing: bool | None = None
    create_vis: bool | None = None
    collision_strategy: str | None = None
    privacy: str | None = None

    @classmethod
    def build(cls, **options: Unpack[ImportOptionArgs]) -> ImportOptions:
        """Validate every option at once; all problems are reported together."""
        problems: list[str] = []
        known = {f.name for f in attrs.fields(cls)}
        values: dict[str, Any] = {}
        for name, value in options.items():
            if name not in known:
                problems.append(
                    f"unknown import option {name!r} (known: {', '.join(sorted(known))})"
                )
            elif name in _ENUM_OPTIONS:
                values[name] = _enum_option(problems, name, value, _ENUM_OPTIONS[name])
            else:
                values[name] = _bool_option(problems, name, value)
        if problems:
            raise ValidationError(
                "invalid import options: " + "; ".join(problems), problems=problems
            )
        return cls(**values)

    def as_params(self) -> dict[str, str]:
        """The options as query parameters (the server parses "true"/"false")."""
        out: dict[str, str] = {}
        for name, value in attrs.asdict(self).items():
            if value is None:
                continue
            out[name] = ("true" if value else "false") if isinstance(value, bool) else value
        return out

    def as_json(self) -> dict[str, Any]:
        """The options as JSON members."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


@attrs.frozen
class LocalFile:
    """A file checked to be uploadable."""

    path: str
    filename: str
    size: int


def describe_local_file(path: str | os.PathLike[str]) -> LocalFile:
    """Check that ``path`` is a readable regular file; fail before any request if not.

    This stat and access check is the only filesystem touch in the core.
    """
    text = os.fspath(path)
    try:
        st = os.stat(text)
    except FileNotFoundError:
        raise ValidationError(f"no such file: {text}") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {text}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ValidationError(f"{text} is a directory; upload the files in it one by one")
    if not stat.S_ISREG(st.st_mode):
        raise ValidationError(f"{text} is not a regular file")
    if not os.access(text, os.R_OK):
        raise ValidationError(f"cannot read {text}: permission denied")
    return LocalFile(path=text, filename=os.path.basename(text), size=st.st_size)


def upload_request(options: ImportOptions, *, filename: str | None = None) -> RequestSpec:
    """The POST of a file upload; the multipart body is added by the I/O layer."""
    params = options.as_params()
    if filename is not None:
        params["filename"] = filename
    return RequestSpec("POST", IMPORTS_PATH, Service.IMPORTS, params=params, creates_job=True)


def create_request(
    options: ImportOptions,
    *,
    file: object = None,
    url: str | None = None,
    sql: str | None = None,
    table_name: str | None = None,
    service_name: str | None = None,
    service_item_id: object = None,
    connector: Mapping[str, Any] | None = None,
) -> RequestSpec:
    """The POST of an import that is not a file upload, after checking the combination.

    ``file`` is only checked here (a file goes through :func:`upload_request`): a file or a URL
    cannot be combined with ``table_name`` or ``sql``, which the server would ignore.
    """
    problems: list[str] = []
    if (file is not None or url is not None) and (table_name is not None or sql is not None):
        problems.append(
            "a file or URL import cannot take table_name or sql: the server names the table "
            "after the file and ignores them"
        )
    if file is not None and url is not None:
        problems.append("give a file or a url, not both")
    if sql is not None and not sql.strip():
        problems.append("sql is empty")
    if service_item_id is not None and not isinstance(service_item_id, str):
        problems.append("service_item_id must be a string")
    if (
        file is None
        and url is None
        and sql is None
        and table_name is None
        and (service_name is None and connector is None)
    ):
        problems.append("nothing to import: give a file, url, sql, table_name or service_name")
    if url is not None:
        problem = url_problem(url)
        if problem is not None:
            problems.append(problem)
    if service_name == "arcgis" and isinstance(service_item_id, str):
        problem = arcgis_url_problem(service_item_id)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise ValidationError("; ".join(problems), problems=problems)
    body: dict[str, Any] = options.as_json()
    for name, value in (
        ("url", url),
        ("sql", sql),
        ("table_name", table_name),
        ("service_name", service_name),
        ("service_item_id", service_item_id),
        ("connector", connector),
    ):
        if value is not None:
            body[name] = value
    return RequestSpec("POST", IMPORTS_PATH, Service.IMPORTS, json=body, creates_job=True)


def status_request(import_id: str) -> RequestSpec:
    """``GET /api/v1/imports/:id``."""
    return RequestSpec("GET", f"{IMPORTS_PATH}/{check_import_id(import_id)}", Service.IMPORTS)


def list_request() -> RequestSpec:
    """``GET /api/v1/imports``: the unfinished imports of the last 24 hours."""
    return RequestSpec("GET", IMPORTS_PATH, Service.IMPORTS)


def _unexpected(what: str, body: Any) -> APIError:
    return APIError(f"unexpected {what} response from the Import API: {str(body)[:200]}")


def parse_created(body: Any) -> str:
    """The new import's id from ``{"item_queue_id": ..., "success": true}``."""
    if not isinstance(body, Mapping):
        raise _unexpected("create", body)
    item = body.get("item_queue_id")
    if body.get("success") is False or not isinstance(item, str) or not item:
        raise _unexpected("create", body)
    return item


def parse_status(body: Any) -> ImportStatus:
    """An :class:`ImportStatus` from ``GET /api/v1/imports/:id``."""
    if (
        not isinstance(body, Mapping)
        or not isinstance(body.get("state"), str)
        or (not isinstance(body.get("id"), str))
    ):
        raise _unexpected("status", body)
    return structure(body, ImportStatus)


def parse_list(body: Any) -> list[str]:
    """The ids of ``{"imports": [...], "success": true}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("imports"), list):
        raise _unexpected("list", body)
    return [str(i) for i in body["imports"]]
