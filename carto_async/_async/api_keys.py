"""The Auth API (``carto.api_keys``): regular API keys with grants for apps and maps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from carto_async._core import api_keys as core
from carto_async._core.http import RequestSpec
from carto_async.errors import NotFoundError
from carto_async.models.api_keys import ApiKey, ApiKeyPage, TableGrant

if TYPE_CHECKING:
    from carto_async._async.client import AsyncCarto

__all__ = ["AsyncApiKeys"]


class AsyncApiKeys:
    """Create, list, read, regenerate and delete API keys (needs the master key).

    A regular key carries grants: the APIs it may call (``"sql"``, ``"maps"``) and, table by
    table, what it may do (``select``, ``insert``, ``update``, ``delete``). Give it to an app
    or a published map instead of the master key.

    Example::

        key = await carto.api_keys.create(
            "store-locator",
            apis=["sql", "maps"],
            tables=[TableGrant("public", "stores", ["select"])],
        )
        print(key.token)        # the secret: hand it to the app (reprs show '***')
    """

    def __init__(self, client: AsyncCarto) -> None:
        self._client = client

    async def _body(self, spec: RequestSpec) -> Any:
        # Callers parse the decoded body only: no response object (whose content holds
        # tokens) stays in a frame that a parse error's traceback could show.
        response = await self._client._transport.request(spec)
        return response.body()

    async def create(
        self,
        name: str,
        *,
        apis: Iterable[str] = core.DEFAULT_APIS,
        tables: Iterable[TableGrant | Mapping[str, Any]] | None = None,
    ) -> ApiKey:
        """Create a regular key named ``name`` and return it with its ``token``.

        ``apis`` defaults to ``["sql", "maps"]``; ``tables`` lists :class:`TableGrant` (or
        dicts with ``schema``, ``name``, ``permissions``). Every problem with the name, the
        APIs and the tables is reported at once by one
        :class:`~carto_async.ValidationError`, before anything is sent. A name in use is
        :class:`~carto_async.UnprocessableEntityError` ("Name has already been taken"), as
        is a table the account does not have. The request is not repeated after an
        ambiguous failure.
        """
        spec = core.create_request(name, apis=apis, tables=tables)
        return core.parse_key(await self._body(spec))

    async def get(self, name: str) -> ApiKey:
        """The key named ``name`` (:class:`~carto_async.NotFoundError` if there is none)."""
        return core.parse_key(await self._body(core.get_request(name)))

    async def list_page(
        self,
        page: int = 1,
        *,
        per_page: int = 20,
        types: Iterable[str] | str | None = None,
        order: str | None = None,
    ) -> ApiKeyPage:
        """One page of keys: master first, then default public, then regular keys.

        ``types`` filters by ``"master"``, ``"default"``, ``"regular"``; ``order`` is
        ``"updated_at"`` (the server's default), ``"name"`` or ``"type"``.
        """
        spec = core.list_request(page=page, per_page=per_page, types=types, order=order)
        return core.parse_page(await self._body(spec), page=page, per_page=per_page)

    async def pages(
        self,
        *,
        per_page: int = core.LIST_PAGE_SIZE,
        types: Iterable[str] | str | None = None,
        order: str | None = None,
    ) -> AsyncIterator[ApiKeyPage]:
        """Every page of keys in turn, until the last one."""
        page = 1
        while True:
            current = await self.list_page(page, per_page=per_page, types=types, order=order)
            yield current
            if not current.keys or not current.has_next:
                return
            page += 1

    async def list(
        self,
        *,
        types: Iterable[str] | str | None = None,
        order: str | None = None,
    ) -> list[ApiKey]:
        """Every key of the account (all pages), each once.

        With the master key this is every key; with any other key, only that key.
        """
        seen: dict[str, ApiKey] = {}
        page = 1
        while True:
            current = await self.list_page(
                page, per_page=core.LIST_PAGE_SIZE, types=types, order=order
            )
            before = len(seen)
            for key in current.keys:
                seen.setdefault(key.name, key)
            # A page that adds nothing ends the walk, whatever ``total`` claims.
            if len(seen) == before or not current.has_next:
                return list(seen.values())
            page += 1

    async def regenerate(self, name: str) -> ApiKey:
        """Give key ``name`` a new token (the old one stops working) and return the key.

        Regenerating the master key changes the key this client sends: make a new client
        with the returned ``token``. Not repeated after an ambiguous failure.
        """
        return core.parse_key(await self._body(core.regenerate_request(name)))

    async def delete(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete regular key ``name``; its token stops working at once.

        The master and default public keys cannot be deleted
        (:class:`~carto_async.PermissionDeniedError`). ``missing_ok=True`` makes a key that
        is already gone (say, deleted by a first attempt whose answer was lost) a success.
        """
        try:
            await self._client._transport.request(core.delete_request(name))
        except NotFoundError:
            if not missing_ok:
                raise
