"""Where URL and datasource imports get their data: loopback downloads and registered fakes."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from urllib.parse import unquote, urlsplit

import attrs
import httpx

from carto_async._core.credentials import is_loopback_host

__all__ = [
    "MAX_REDIRECTS",
    "Fetched",
    "SourceUnavailable",
    "Sources",
    "basename_of",
    "check_fetchable",
    "download",
]

_DISPOSITION_FILENAME_RE = re.compile(r"""filename\*?=(?:UTF-8'')?["']?([^"';]+)""", re.I)
_EXTENSIONS_BY_TYPE = {
    "text/csv": ".csv",
    "text/tab-separated-values": ".tsv",
    "application/geo+json": ".geojson",
    "application/vnd.geo+json": ".geojson",
    "application/json": ".json",
    "application/vnd.google-earth.kml+xml": ".kml",
    "application/kml": ".kml",
    "application/zip": ".zip",
    "text/plain": ".txt",
}
# service_item_id of an ArcGIS layer or service: .../rest/services/...
_ARCGIS_URL_RE = re.compile(r"^https?://[^/]+/.*/rest/services/", re.I)


class SourceUnavailable(Exception):
    """The data could not be fetched; ``code`` is the import error code the server reports."""

    def __init__(self, code: int, http_response_code: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.http_response_code = http_response_code


@attrs.frozen
class Fetched:
    """Data fetched to a local file."""

    filename: str
    path: str
    size: int


def basename_of(url: str) -> str:
    """The decoded last path segment of ``url`` (the presenter's ``display_name``)."""
    return os.path.basename(unquote(urlsplit(url.strip()).path))


def _filename_for(response: httpx.Response) -> str:
    match = _DISPOSITION_FILENAME_RE.search(response.headers.get("content-disposition", ""))
    name = unquote(match.group(1)).strip() if match else basename_of(str(response.url))
    name = os.path.basename(name) or "download"
    if "." not in name:
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        name += _EXTENSIONS_BY_TYPE.get(media, "")
    return name.replace(" ", "_")


#: Redirects followed before a download fails (1001), as a browser-like client would.
MAX_REDIRECTS = 10


def check_fetchable(url: str | httpx.URL) -> None:
    """Refuse a URL LocalCarto will not fetch: not http(s) (1001), not a loopback host (1102).

    Applied to the first URL and to every redirect hop alike, so a loopback server cannot
    send the downloader anywhere the first URL could not go.
    """
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https"):
        raise SourceUnavailable(1001)
    if not parts.hostname or not is_loopback_host(parts.hostname):
        raise SourceUnavailable(1102)


def _open(client: httpx.Client, url: str) -> httpx.Response:
    """The final response of ``url``, each redirect hop checked before it is followed."""
    request = client.build_request("GET", url)
    for _ in range(MAX_REDIRECTS + 1):
        check_fetchable(request.url)
        response = client.send(request, stream=True, follow_redirects=False)
        if response.next_request is None:
            return response
        response.close()
        request = response.next_request
    raise SourceUnavailable(1001)


def download(url: str, directory: str, limit: int) -> Fetched:
    """Download ``url`` into ``directory``, keeping at most ``limit`` bytes.

    Only loopback hosts are fetched, redirects included: LocalCarto never reaches the network.
    Failures raise :class:`SourceUnavailable` with the code the real downloader reports: any
    other host is treated as unresolvable (1102), a 404 is 1100, 401/403 are 1101, other
    statuses, refused connections and endless redirects 1001, timeouts 1020 and truncated
    bodies 1103.
    """
    check_fetchable(url)
    fd, path = tempfile.mkstemp(prefix="download-", dir=directory)
    size = 0
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.Client(timeout=30.0, follow_redirects=False, trust_env=False) as client,
            contextlib.closing(_open(client, url)) as response,
        ):
            status = response.status_code
            if status >= 300:
                code = {404: 1100, 401: 1101, 403: 1101}.get(status, 1001)
                raise SourceUnavailable(code, str(status))
            filename = _filename_for(response)
            for chunk in response.iter_bytes():
                if size < limit:
                    out.write(chunk[: limit - size])
                size += len(chunk)
    except SourceUnavailable:
        _unlink(path)
        raise
    except httpx.TimeoutException:
        _unlink(path)
        raise SourceUnavailable(1020) from None
    except httpx.RemoteProtocolError:
        _unlink(path)
        raise SourceUnavailable(1103) from None
    except httpx.HTTPError:
        _unlink(path)
        raise SourceUnavailable(1001) from None
    return Fetched(filename=filename, path=path, size=size)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@attrs.frozen
class _Registered:
    filename: str
    data: bytes
    error_code: int | None


class Sources:
    """Fake datasources (Google Drive, Dropbox, ArcGIS, ...) registered by tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], _Registered] = {}

    def register(
        self,
        service_name: str,
        item_id: str,
        filename: str,
        data: bytes | str,
        *,
        error_code: int | None = None,
    ) -> None:
        """Serve ``data`` as ``filename`` for imports of ``(service_name, item_id)``."""
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        with self._lock:
            self._items[(service_name, item_id)] = _Registered(filename, payload, error_code)

    def unregister(self, service_name: str, item_id: str) -> None:
        """Forget a registered source."""
        with self._lock:
            self._items.pop((service_name, item_id), None)

    def clear(self) -> None:
        """Forget every registered source."""
        with self._lock:
            self._items.clear()

    def fetch(self, service_name: str, item_id: str, directory: str) -> Fetched:
        """Write the registered data to ``directory`` or fail as the real connector would.

        Unregistered sources fail like an account with no connection to the service: OAuth
        services (gdrive, dropbox, box, ...) and anything unknown with 1012; an ArcGIS URL is
        unreachable (1011), a non-ArcGIS ``service_item_id`` invalid input (1012).
        """
        with self._lock:
            item = self._items.get((service_name, item_id))
        if item is None:
            if service_name == "arcgis" and _ARCGIS_URL_RE.match(item_id):
                raise SourceUnavailable(1011)
            raise SourceUnavailable(1012)
        if item.error_code is not None:
            raise SourceUnavailable(item.error_code)
        fd, path = tempfile.mkstemp(prefix="source-", dir=directory)
        with os.fdopen(fd, "wb") as out:
            out.write(item.data)
        return Fetched(filename=item.filename, path=path, size=len(item.data))
