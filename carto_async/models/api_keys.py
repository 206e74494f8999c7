"""Auth API models: API keys, the tables and APIs they grant, and a page of keys.

A key's secret is its ``token``: it is a plain attribute (read it to hand the key to an app),
never part of a repr, and masked in ``raw``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

__all__ = [
    "ApiKey",
    "ApiKeyPage",
    "ApiKeyType",
    "GrantedApi",
    "TableGrant",
    "TablePermission",
]


class ApiKeyType(StrEnum):
    """The kinds of key an account holds: one master, one default public, any regular."""

    MASTER = "master"
    DEFAULT = "default"  # the "Default public" key, token "default_public"
    REGULAR = "regular"


class GrantedApi(StrEnum):
    """The APIs a regular key can be allowed to call."""

    SQL = "sql"
    MAPS = "maps"


class TablePermission(StrEnum):
    """What a key may do to a table it is granted."""

    SELECT = "select"
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


def _str_tuple(value: Iterable[str] | str) -> tuple[str, ...]:
    # One permission may be given bare ("select" is not split into letters); anything that is
    # not a list is kept whole for ``create``'s validation to report.
    if isinstance(value, str) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


@attrs.frozen
class TableGrant:
    """Access to one table: ``TableGrant("public", "stores", ["select", "insert"])``.

    ``schema`` is the table's schema: ``public`` on a single-user account, the username on an
    organization account. ``owner`` is only set on keys read back from the server (true for
    tables the key itself created). ``carto.api_keys.create`` checks the permissions before
    anything is sent.
    """

    schema: str
    name: str
    permissions: tuple[str, ...] = attrs.field(converter=_str_tuple)
    owner: bool | None = attrs.field(default=None, kw_only=True)

    def to_json(self) -> dict[str, Any]:
        """The grant as the Auth API's ``tables`` member expects it."""
        return {"schema": self.schema, "name": self.name, "permissions": list(self.permissions)}


def _key_repr(key: ApiKey) -> str:
    token = "'***'" if key.token else repr(key.token)
    return (
        f"ApiKey(name={key.name!r}, type={str(key.type)!r}, token={token}, "
        f"apis={list(key.apis)!r}, tables={list(key.tables)!r})"
    )


@attrs.frozen(repr=False)
class ApiKey:
    """An API key and its grants, as the Auth API describes it.

    ``token`` is the secret to give an app (``AsyncCarto(username, api_key=key.token)``); it is
    masked in the repr, and ``raw`` (the whole payload) holds ``"***"`` in its place.
    ``apis`` are the APIs it may call, ``tables`` the tables it may read or write (always
    empty for the master and default public keys, which the server does not list table by
    table), ``services`` its data services.
    """

    name: str
    type: str
    token: str = attrs.field(default="", eq=False)
    apis: tuple[str, ...] = ()
    tables: tuple[TableGrant, ...] = ()
    services: tuple[str, ...] = ()
    username: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def is_master(self) -> bool:
        """True for the account's master key (it can do everything)."""
        return self.type == ApiKeyType.MASTER

    @property
    def is_default_public(self) -> bool:
        """True for the account's "Default public" key (what anonymous requests use)."""
        return self.type == ApiKeyType.DEFAULT

    @property
    def is_regular(self) -> bool:
        """True for a key made with ``create``: only the APIs and tables it was granted."""
        return self.type == ApiKeyType.REGULAR

    def permissions_on(self, name: str, schema: str | None = None) -> tuple[str, ...]:
        """The permissions this key was granted on table ``name`` (any schema unless given)."""
        out: list[str] = []
        for grant in self.tables:
            if grant.name == name and (schema is None or grant.schema == schema):
                out.extend(p for p in grant.permissions if p not in out)
        return tuple(out)

    def __repr__(self) -> str:
        return _key_repr(self)


@attrs.frozen
class ApiKeyPage:
    """One page of ``GET /api/v3/api_keys``: the keys and how many there are in all."""

    keys: tuple[ApiKey, ...]
    total: int
    page: int
    per_page: int

    @property
    def count(self) -> int:
        """How many keys this page holds."""
        return len(self.keys)

    @property
    def last_page(self) -> int:
        """The number of the last page (the server's ``ceil(total / per_page)``)."""
        return max(1, -(-self.total // self.per_page)) if self.per_page > 0 else 1

    @property
    def has_next(self) -> bool:
        """True when a later page exists."""
        return self.page < self.last_page

    def names(self) -> Sequence[str]:
        """The names of the keys on this page, in the server's order."""
        return [k.name for k in self.keys]
