"""Visualization export requests, the download URL rule and response parsing (sans-I/O;
reference §7).

A finished export's ``url`` is either a path on the account (the key is added, as for every
Rails call) or an absolute presigned URL of another host (S3), which never gets the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from carto_async._core.http import KeyPlacement, RequestSpec, Service
from carto_async._core.jobs import Outcome
from carto_async.errors import APIError, ValidationError
from carto_async.models._converter import structure
from carto_async.models.exports import VisualizationExport

__all__ = [
    "EXPORTS_PATH",
    "EXPORT_STATES",
    "check_id",
    "create_request",
    "download_request",
    "get_request",
    "parse_export",
]

EXPORTS_PATH = "/api/v3/visualization_exports"

#: Export states (§7); the docs list the import states instead.
EXPORT_STATES: Mapping[str, Outcome] = {
    "pending": Outcome.PENDING,
    "exporting": Outcome.PENDING,
    "uploading": Outcome.PENDING,
    "complete": Outcome.SUCCESS,
    "failure": Outcome.FAILURE,
}

# Rails ids are UUIDs; the docs' examples hold letters past f, so any alphanumerics pass.
_ID_RE = re.compile(
    r"^[0-9a-zA-Z]{8}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{4}-[0-9a-zA-Z]{12}$"
)


def check_id(value: object, what: str) -> str:
    """``value`` if it is shaped as a Rails id (a UUID), else :class:`ValidationError`."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValidationError(f"invalid {what} {value!r}: CARTO ids are UUIDs")
    return value


def create_request(
    visualization_id: str, *, user_tables_ids: Iterable[str] | str | None = None
) -> RequestSpec:
    """``POST /api/v3/visualization_exports`` (201), a JSON body; ``user_tables_ids`` are sent
    comma-separated, as the server reads them."""
    body: dict[str, Any] = {"visualization_id": check_id(visualization_id, "visualization id")}
    if user_tables_ids is not None:
        ids = [user_tables_ids] if isinstance(user_tables_ids, str) else list(user_tables_ids)
        if isinstance(user_tables_ids, str):
            ids = [i.strip() for i in user_tables_ids.split(",") if i.strip()]
        body["user_tables_ids"] = ",".join(check_id(i, "user table id") for i in ids)
    return RequestSpec("POST", EXPORTS_PATH, Service.RAILS, json=body, creates_job=True)


def get_request(export_id: str) -> RequestSpec:
    """``GET /api/v3/visualization_exports/:id``."""
    return RequestSpec("GET", f"{EXPORTS_PATH}/{check_id(export_id, 'export id')}", Service.RAILS)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def download_request(url: str, base_url: str) -> RequestSpec:
    """The GET of a finished export's ``url``.

    A relative URL is a path on the account: it is resolved against ``base_url`` and gets the
    key. An absolute URL gets the key only when it lies under ``base_url`` itself; any other
    (a presigned S3 URL) is fetched as it is, without the key.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("the export has no download url yet")
    if "://" not in url:
        if not url.startswith("/"):
            url = "/" + url
        return RequestSpec("GET", url, Service.RAILS, key=KeyPlacement.QUERY)
    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise ValidationError(f"the export's url is not an http(s) URL: {url[:80]!r}")
    base = base_url.rstrip("/") + "/"
    if _origin(url) == _origin(base_url) and url.startswith(base):
        return RequestSpec("GET", url[len(base) - 1 :], Service.RAILS, key=KeyPlacement.QUERY)
    return RequestSpec("GET", url, Service.RAILS, key=KeyPlacement.NONE)


def parse_export(body: Any) -> VisualizationExport:
    """A :class:`VisualizationExport` from an export object."""
    if (
        not isinstance(body, Mapping)
        or not isinstance(body.get("id"), str)
        or not isinstance(body.get("state"), str)
    ):
        raise APIError(f"unexpected response from the exports API: {str(body)[:200]}")
    try:
        export = structure({k: v for k, v in body.items() if v is not None}, VisualizationExport)
    except Exception as exc:  # cattrs reports a wrong type as its own exception group
        raise APIError(f"unexpected response from the exports API: {str(body)[:200]}") from exc
    return attrs.evolve(export, raw=dict(body))
