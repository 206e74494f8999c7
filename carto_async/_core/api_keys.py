"""Auth API requests, grant validation and response parsing (sans-I/O).

The Auth API lives in CARTO's Rails app (``Carto::Api::ApiKeysController``): keys are
addressed by name under ``/api/v3/api_keys``, grants are a list of sections
(``[{"type": "apis", "apis": [...]}, {"type": "database", "tables": [...]}]``), errors are
``{"errors": "<message>"}`` (422 "Validation failed: Name has already been taken"; 404
"API key not found: <name>"), and managing keys needs the master key (401, empty body).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from carto_async._core.credentials import REDACTED, redact_url
from carto_async._core.http import RequestSpec, Service
from carto_async.errors import APIError, ValidationError
from carto_async.models._converter import parse_datetime
from carto_async.models.api_keys import (
    ApiKey,
    ApiKeyPage,
    ApiKeyType,
    GrantedApi,
    TableGrant,
    TablePermission,
)

__all__ = [
    "API_KEYS_PATH",
    "DEFAULT_APIS",
    "LIST_PAGE_SIZE",
    "build_grants",
    "create_request",
    "delete_request",
    "get_request",
    "list_request",
    "parse_key",
    "parse_page",
    "regenerate_request",
]

API_KEYS_PATH = "/api/v3/api_keys"

#: What ``create`` grants when no ``apis`` are given (carto-python's default too).
DEFAULT_APIS: tuple[str, ...] = (GrantedApi.SQL.value, GrantedApi.MAPS.value)

#: Keys fetched per request when ``list`` walks every page.
LIST_PAGE_SIZE = 100

# Names the server keeps for the two built-in keys (``valid_name_for_type``).
_RESERVED_NAMES = frozenset({"Master", "Default public"})
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_APIS = frozenset(a.value for a in GrantedApi)
_PERMISSIONS = frozenset(p.value for p in TablePermission)
_TYPES = frozenset(t.value for t in ApiKeyType)
_ORDERS = frozenset({"type", "name", "updated_at"})


def _shown(value: object) -> str:
    # Echo the caller's input, but not all of a 100 kB string.
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + f"... ({len(text)} characters)"


def _check_name(name: object, problems: list[str], *, creating: bool) -> str:
    if not isinstance(name, str):
        problems.append(f"the key name must be a string, got {type(name).__name__}")
        return ""
    if not name.strip():
        problems.append("the key name is empty")
    elif _CONTROL_RE.search(name):
        problems.append(f"the key name {_shown(name)} contains control characters")
    elif creating and name in _RESERVED_NAMES:
        problems.append(f"the key name {name!r} is reserved for CARTO's built-in keys")
    elif creating and "/" in name:
        # The server routes keys by name with /[^/]+/: such a key could never be read,
        # regenerated or deleted afterwards.
        problems.append(
            f"the key name {_shown(name)} contains '/', which the Auth API cannot address"
        )
    return name


def _raise(problems: list[str], what: str) -> None:
    if problems:
        raise ValidationError(f"{what}: " + "; ".join(problems), problems=problems)


def _key_path(name: object) -> str:
    problems: list[str] = []
    checked = _check_name(name, problems, creating=False)
    _raise(problems, "invalid API key name")
    return f"{API_KEYS_PATH}/{quote(checked, safe='')}"


def _apis(apis: object, problems: list[str]) -> list[str]:
    if isinstance(apis, str):
        apis = [apis]
    if not isinstance(apis, Iterable) or isinstance(apis, Mapping):
        problems.append(f"apis must be a list such as ['sql', 'maps'], got {_shown(apis)}")
        return []
    out: list[str] = []
    for api in apis:
        value = api.lower() if isinstance(api, str) else None
        if value is None or value not in _APIS:
            problems.append(f"unknown api {_shown(api)}: use 'sql' and/or 'maps'")
        elif value not in out:
            out.append(value)
    return out


def _permissions(where: str, value: object, problems: list[str]) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        problems.append(
            f"{where}: permissions must be a list such as ['select'], got {_shown(value)}"
        )
        return []
    out: list[str] = []
    for permission in value:
        low = permission.lower() if isinstance(permission, str) else None
        if low is None or low not in _PERMISSIONS:
            problems.append(
                f"{where}: unknown permission {_shown(permission)} "
                "(use select, insert, update, delete)"
            )
        elif low not in out:
            out.append(low)
    return out


def _table(index: int, table: object, problems: list[str]) -> dict[str, Any] | None:
    where = f"tables[{index}]"
    schema: object
    name: object
    permissions: object
    if isinstance(table, TableGrant):
        schema, name, permissions = table.schema, table.name, table.permissions
    elif isinstance(table, Mapping):
        extra = sorted(str(k) for k in table if k not in ("schema", "name", "permissions"))
        if extra:
            problems.append(f"{where}: unknown member(s) {', '.join(extra)}")
        schema, name = table.get("schema"), table.get("name")
        permissions = table.get("permissions")
        if permissions is None:
            problems.append(f"{where}: permissions are missing")
            permissions = []
    else:
        problems.append(
            f"{where}: give a TableGrant(schema, name, permissions) or a dict, "
            f"got {type(table).__name__}"
        )
        return None
    before = len(problems)
    for field, value in (("schema", schema), ("name", name)):
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: {field} must be a non-empty string, got {_shown(value)}")
    checked = _permissions(where, permissions, problems)
    if len(problems) > before:
        return None
    return {"schema": schema, "name": name, "permissions": checked}


def build_grants(apis: object, tables: object) -> list[dict[str, Any]]:
    """The ``grants`` of a new key, checking every API and table at once.

    >>> build_grants(["sql"], [TableGrant("public", "stores", ["select"])])
    [{'type': 'apis', 'apis': ['sql']}, {'type': 'database', 'tables': [{'schema': 'public', \
'name': 'stores', 'permissions': ['select']}]}]
    """
    problems: list[str] = []
    grants = _grants(apis, tables, problems)
    _raise(problems, "invalid API key grants")
    return grants


def _grants(apis: object, tables: object, problems: list[str]) -> list[dict[str, Any]]:
    grants: list[dict[str, Any]] = [{"type": "apis", "apis": _apis(apis, problems)}]
    if tables is None:
        return grants
    if isinstance(tables, str | Mapping | TableGrant) or not isinstance(tables, Iterable):
        problems.append(f"tables must be a list of TableGrant, got {type(tables).__name__}")
        return grants
    entries = [_table(i, t, problems) for i, t in enumerate(tables)]
    checked = [t for t in entries if t is not None]
    if checked:
        grants.append({"type": "database", "tables": checked})
    return grants


def create_request(name: object, *, apis: object, tables: object) -> RequestSpec:
    """``POST /api/v3/api_keys`` after checking the name and every grant.

    Not repeated after an ambiguous failure (a POST): the first attempt may have made the key,
    and the repeat would then fail with "Name has already been taken".
    """
    problems: list[str] = []
    checked = _check_name(name, problems, creating=True)
    grants = _grants(apis, tables, problems)
    _raise(problems, "invalid API key")
    return RequestSpec(
        "POST", API_KEYS_PATH, Service.RAILS, json={"name": checked, "grants": grants}
    )


def get_request(name: object) -> RequestSpec:
    """``GET /api/v3/api_keys/:name``."""
    return RequestSpec("GET", _key_path(name), Service.RAILS)


def delete_request(name: object) -> RequestSpec:
    """``DELETE /api/v3/api_keys/:name`` (204; 403 for the master and default public keys)."""
    return RequestSpec("DELETE", _key_path(name), Service.RAILS)


def regenerate_request(name: object) -> RequestSpec:
    """``POST /api/v3/api_keys/:name/token/regenerate``: never repeated, each makes a token."""
    return RequestSpec("POST", _key_path(name) + "/token/regenerate", Service.RAILS)


def list_request(
    *, page: object = 1, per_page: object = 20, types: object = None, order: object = None
) -> RequestSpec:
    """``GET /api/v3/api_keys`` with the server's paging, type filter and order."""
    problems: list[str] = []
    params: dict[str, str] = {}
    for label, value in (("page", page), ("per_page", per_page)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{label} must be a positive integer, got {value!r}")
        else:
            params[label] = str(value)
    if types is not None:
        listed = [types] if isinstance(types, str) else types
        if not isinstance(listed, Iterable):
            problems.append(f"types must be a list of key types, got {types!r}")
        else:
            names = [str(t) for t in listed]
            unknown = [t for t in names if t not in _TYPES]
            if unknown:
                problems.append(
                    f"unknown key type(s) {', '.join(map(repr, unknown))}: "
                    "use master, default, regular"
                )
            elif names:
                params["type"] = ",".join(names)
    if order is not None:
        if order not in _ORDERS:
            problems.append(f"order must be one of type, name, updated_at, got {order!r}")
        else:
            params["order"] = str(order)
    _raise(problems, "invalid API key listing")
    return RequestSpec("GET", API_KEYS_PATH, Service.RAILS, params=params)


def _unexpected(what: str, body: Any) -> APIError:
    text = redact_url(str(body)) if "://" in str(body) else str(body)
    if isinstance(body, Mapping) and isinstance(body.get("token"), str) and body["token"]:
        text = text.replace(body["token"], REDACTED)
    return APIError(f"unexpected {what} response from the Auth API: {text[:200]}")


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _parse_tables(value: Any) -> tuple[TableGrant, ...]:
    out: list[TableGrant] = []
    for item in value if isinstance(value, list) else ():
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            owner = item.get("owner")
            out.append(
                TableGrant(
                    str(item.get("schema") or ""),
                    item["name"],
                    _strings(item.get("permissions")),
                    owner=owner if isinstance(owner, bool) else None,
                )
            )
    return tuple(out)


def _when(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return None
    if value.endswith(" UTC"):  # ActiveSupport's TimeWithZone#to_s
        value = value[:-4] + "Z"
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _redact_link(link: Any) -> Any:
    if isinstance(link, str):
        return redact_url(link)
    if isinstance(link, Mapping) and isinstance(link.get("href"), str):
        return {**link, "href": redact_url(link["href"])}
    return link


def _masked(body: Mapping[str, Any]) -> dict[str, Any]:
    raw = dict(body)
    if raw.get("token"):
        raw["token"] = REDACTED
    links = raw.get("_links")
    if isinstance(links, Mapping):
        # The server builds these from the request's own params, api_key included.
        raw["_links"] = {k: _redact_link(v) for k, v in links.items()}
    return raw


def parse_key(body: Any) -> ApiKey:
    """An :class:`ApiKey` from a key payload (create, show, regenerate, list items)."""
    if (
        not isinstance(body, Mapping)
        or not isinstance(body.get("name"), str)
        or not isinstance(body.get("type"), str)
    ):
        error = _unexpected("API key", body)
        del body  # a traceback's frame locals must not show the token it may hold
        raise error
    apis: tuple[str, ...] = ()
    tables: tuple[TableGrant, ...] = ()
    services: tuple[str, ...] = ()
    grants = body.get("grants")
    for grant in grants if isinstance(grants, list) else ():
        if not isinstance(grant, Mapping):
            continue
        kind = grant.get("type")
        if kind == "apis":
            apis = _strings(grant.get("apis"))
        elif kind == "database":
            tables = _parse_tables(grant.get("tables"))
        elif kind == "dataservices":
            services = _strings(grant.get("services"))
    user = body.get("user")
    token = body.get("token")
    return ApiKey(
        name=body["name"],
        type=body["type"],
        token=token if isinstance(token, str) else "",
        apis=apis,
        tables=tables,
        services=services,
        username=str(user["username"])
        if isinstance(user, Mapping) and "username" in user
        else None,
        created_at=_when(body.get("created_at")),
        updated_at=_when(body.get("updated_at")),
        raw=_masked(body),
    )


def parse_page(body: Any, *, page: int, per_page: int) -> ApiKeyPage:
    """An :class:`ApiKeyPage` from ``{"total", "count", "result": [...], "_links"}``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("result"), list):
        error = _unexpected("API key list", body)
        del body
        raise error
    keys = tuple(parse_key(item) for item in body["result"])
    total = body.get("total")
    return ApiKeyPage(
        keys=keys,
        total=total if isinstance(total, int) and not isinstance(total, bool) else len(keys),
        page=page,
        per_page=per_page,
    )
