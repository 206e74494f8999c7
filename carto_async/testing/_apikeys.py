"""LocalCarto's Auth API: the key store, grant checks and the JSON the Rails app renders.

This module is pure (no HTTP, no database): the HTTP handlers in ``_http.apikeys`` parse a
request, call an :class:`ApiKeyStore` method and render what it returns or raises. Shapes,
statuses and words follow CARTO's Rails app (``Carto::Api::ApiKeysController``,
``Carto::ApiKey``, ``Carto::Api::ApiKeyPresenter``, ``Carto::Api::UsersController#me``).

Every account has two built-in keys: ``Master`` (the master key, everything) and
``Default public`` (token ``default_public``, what anonymous requests use: SQL and Maps over
public tables only). Regular keys carry grants: the APIs they may call and, per table,
``select``/``insert``/``update``/``delete``. Like CARTO's database roles, a regular key also
reads what the public user reads (its role is granted ``publicuser``).

Knowingly differs from CARTO: list ``_links`` do not echo the request's ``api_key`` (CARTO's
do), JSON-schema messages lack the gem's trailing ``in schema <uuid>``, there is one user (no
``target_user``, no organization), and there are no OAuth keys, schema grants or data services
beyond what a payload names.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import attrs

__all__ = [
    "DEFAULT_PUBLIC_NAME",
    "DEFAULT_PUBLIC_TOKEN",
    "MASTER_NAME",
    "ApiKeyStore",
    "AuthApiError",
    "StoredKey",
    "new_token",
]

MASTER_NAME = "Master"
DEFAULT_PUBLIC_NAME = "Default public"
DEFAULT_PUBLIC_TOKEN = "default_public"  # noqa: S105 - CARTO's fixed, public token

TYPE_MASTER = "master"
TYPE_DEFAULT = "default"
TYPE_REGULAR = "regular"
VALID_TYPES = (TYPE_MASTER, TYPE_DEFAULT, TYPE_REGULAR)  # the controller's VALID_TYPE_PARAMS

ALL_APIS = ("sql", "maps")
TABLE_PERMISSIONS = ("insert", "select", "update", "delete")  # the JSON schema's order
MASTER_SERVICES = ("geocoding", "routing", "isolines", "observatory")

# lib/formats/carto/api_key/grants.json, as data.
_SECTION_TYPES = ("apis", "database", "dataservices", "user", "data-observatory")
_SECTION_MEMBERS = frozenset(
    {"type", "apis", "schemas", "tables", "services", "data", "table_metadata", "datasets"}
)
_APIS_ENUM = ("sql", "maps", "do")
_SERVICES_ENUM = MASTER_SERVICES
_TABLE_MEMBERS = frozenset({"schema", "name", "owner", "permissions"})
_SCHEMA_MEMBERS = frozenset({"schema", "name", "permissions"})
_ORDERS = ("type", "name", "updated_at")
_DIRECTIONS = ("asc", "desc")
_TYPE_WEIGHT = {TYPE_MASTER: 3, TYPE_DEFAULT: 2, TYPE_REGULAR: 1}
_FORBIDDEN = "You don't have permission to access that resource"
_QUOTA = "You have reached the limit of API keys for your plan"


def new_token() -> str:
    """A token shaped like CARTO's (``SecureRandom.urlsafe_base64(16)``, 22 characters)."""
    return secrets.token_urlsafe(16)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuthApiError(Exception):
    """A refusal: ``status`` and the ``errors`` message, or no message for an empty body.

    Rails renders ``{"errors": message, "errors_cause": null}``; authentication failures are
    ``head :unauthorized`` (401, empty body).
    """

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(f"{status}: {message}" if message else str(status))
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any] | None:
        """The JSON body, or ``None`` for an empty one."""
        if self.message is None:
            return None
        return {"errors": self.message, "errors_cause": None}


@attrs.define(eq=False)
class StoredKey:
    """One key of the account. ``tables`` maps ``(schema, name)`` to its permissions."""

    name: str
    type: str
    token: str = attrs.field(repr=False)
    apis: tuple[str, ...]
    tables: dict[tuple[str, str], tuple[str, ...]] = attrs.field(factory=dict)
    services: tuple[str, ...] = ()
    extra_sections: tuple[dict[str, Any], ...] = ()
    table_metadata: bool = False
    created_at: datetime = attrs.field(factory=_utcnow)
    updated_at: datetime = attrs.field(factory=_utcnow)

    @property
    def is_master(self) -> bool:
        return self.type == TYPE_MASTER

    @property
    def is_default_public(self) -> bool:
        return self.type == TYPE_DEFAULT

    @property
    def is_regular(self) -> bool:
        return self.type == TYPE_REGULAR


def _ruby_time(value: datetime) -> str:
    # ``created_at.to_s`` of a UTC timestamp, as the Auth API reference shows it.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def _ruby_to_i(value: object) -> int:
    text = str(value).strip()
    digits = ""
    for i, char in enumerate(text):
        if char.isdigit() or (i == 0 and char in "+-"):
            digits += char
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


def _present(value: object) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict):
        return bool(value)
    return True


def _ruby_list(values: Iterable[str], *, symbols: bool = False) -> str:
    # Array#to_s: ["master", "default"] or [:type, :name].
    items = [f":{v}" if symbols else f'"{v}"' for v in values]
    return "[" + ", ".join(items) + "]"


def _param_invalid(name: str, valid: str | None = None) -> AuthApiError:
    extra = f" Valid values are one of {valid}" if valid else ""
    return AuthApiError(400, f"Wrong '{name}' parameter value.{extra}")


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Schema:
    """The grants JSON schema, with the json-schema gem's messages."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def _type(self, path: str, value: object, expected: str) -> bool:
        actual = _json_type(value)
        ok = actual == expected or (expected == "number" and actual == "integer")
        if not ok:
            self.errors.append(
                f"The property '{path}' of type {actual} did not match the following type: "
                f"{expected}"
            )
        return ok

    def _enum(self, path: str, value: object, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            shown = value if isinstance(value, str) else repr(value)
            self.errors.append(
                f"The property '{path}' value \"{shown}\" did not match one of the following "
                f"values: {', '.join(allowed)}"
            )

    def _members(
        self, path: str, value: dict[str, Any], allowed: frozenset[str], required: Iterable[str]
    ) -> None:
        for name in required:
            if name not in value:
                self.errors.append(
                    f"The property '{path}' did not contain a required property of '{name}'"
                )
        extra = [k for k in value if k not in allowed]
        if extra:
            listed = ", ".join(f'"{k}"' for k in extra)
            self.errors.append(
                f"The property '{path}' contains additional properties [{listed}] outside of "
                "the schema when none are allowed"
            )

    def _strings(self, path: str, value: object, allowed: tuple[str, ...] | None) -> None:
        if not self._type(path, value, "array"):
            return
        assert isinstance(value, list)
        for i, item in enumerate(value):
            if allowed is None:
                self._type(f"{path}/{i}", item, "string")
            else:
                self._enum(f"{path}/{i}", item, allowed)

    def _objects(
        self, path: str, value: object, allowed: frozenset[str], required: tuple[str, ...]
    ) -> None:
        if not self._type(path, value, "array"):
            return
        assert isinstance(value, list)
        for i, item in enumerate(value):
            where = f"{path}/{i}"
            if not self._type(where, item, "object"):
                continue
            self._members(where, item, allowed, required)
            for name in ("schema", "name"):
                if name in item:
                    self._type(f"{where}/{name}", item[name], "string")
            if "owner" in item:
                self._type(f"{where}/owner", item["owner"], "boolean")
            if "permissions" in item:
                enum = TABLE_PERMISSIONS if "schema" in required else ("create",)
                self._strings(f"{where}/permissions", item["permissions"], enum)

    def check(self, grants: list[Any]) -> list[str]:
        for i, section in enumerate(grants):
            path = f"#/{i}"
            if not self._type(path, section, "object"):
                continue
            self._members(path, section, _SECTION_MEMBERS, ("type",))
            if "type" in section and self._type(f"{path}/type", section["type"], "string"):
                self._enum(f"{path}/type", section["type"], _SECTION_TYPES)
            if "apis" in section:
                self._strings(f"{path}/apis", section["apis"], _APIS_ENUM)
            if "services" in section:
                self._strings(f"{path}/services", section["services"], _SERVICES_ENUM)
            if "data" in section:
                self._strings(f"{path}/data", section["data"], ("profile",))
            if "datasets" in section:
                self._strings(f"{path}/datasets", section["datasets"], None)
            if "table_metadata" in section:
                self._type(f"{path}/table_metadata", section["table_metadata"], "array")
            if "tables" in section:
                self._objects(
                    f"{path}/tables",
                    section["tables"],
                    _TABLE_MEMBERS,
                    ("schema", "name", "permissions"),
                )
            if "schemas" in section:
                self._objects(
                    f"{path}/schemas", section["schemas"], _SCHEMA_MEMBERS, ("name", "permissions")
                )
        return self.errors


def _grant_errors(grants: object) -> list[str]:
    """The model's ``grants`` validations: symbolizer, ApiKeyGrantsValidator, JSON schema."""
    if grants is None:
        return ["grants has to be an array"]
    if not isinstance(grants, list):
        # The grants validator replaces what came before it; the schema adds its own.
        return [
            "grants has to be an array",
            f"The property '#/' of type {_json_type(grants)} did not match the following "
            "type: array",
        ]
    errors: list[str] = []
    sections = [s for s in grants if isinstance(s, dict)]
    if sum(1 for s in sections if s.get("type") == "apis") != 1:
        errors.append("only one apis section is allowed")
    for kind in ("database", "dataservices", "user", "data-observatory"):
        if sum(1 for s in sections if s.get("type") == kind) > 1:
            errors.append(f"only one {kind} section is allowed")
    return errors + _Schema().check(grants)


class ApiKeyStore:
    """The keys of one LocalCarto account, with the Auth API's rules.

    ``table_exists(schema, name)`` tells whether the account has a table (a grant on any
    other table is refused, as CARTO refuses to grant what the owner does not have);
    ``max_regular_keys`` is the plan's quota (``None``: no limit); ``now`` and ``token``
    are injectable for tests.
    """

    def __init__(
        self,
        username: str,
        master_token: str,
        *,
        schema: str = "public",
        table_exists: Callable[[str, str], bool] | None = None,
        max_regular_keys: int | None = None,
        now: Callable[[], datetime] = _utcnow,
        token: Callable[[], str] = new_token,
    ) -> None:
        self.username = username
        self.schema = schema
        self.max_regular_keys = max_regular_keys
        self._table_exists = table_exists
        self._now = now
        self._new_token = token
        at = now()
        self._keys: dict[str, StoredKey] = {
            MASTER_NAME: StoredKey(
                MASTER_NAME,
                TYPE_MASTER,
                master_token,
                ALL_APIS,
                services=MASTER_SERVICES,
                created_at=at,
                updated_at=at,
            ),
            DEFAULT_PUBLIC_NAME: StoredKey(
                DEFAULT_PUBLIC_NAME,
                TYPE_DEFAULT,
                DEFAULT_PUBLIC_TOKEN,
                ALL_APIS,
                created_at=at,
                updated_at=at,
            ),
        }

    # -- lookups ---------------------------------------------------------------------------

    @property
    def master(self) -> StoredKey:
        """The master key (its token changes when it is regenerated)."""
        return self._keys[MASTER_NAME]

    @property
    def default_public(self) -> StoredKey:
        """The ``Default public`` key."""
        return self._keys[DEFAULT_PUBLIC_NAME]

    def all_keys(self) -> list[StoredKey]:
        """Every key, in creation order."""
        return list(self._keys.values())

    def lookup(self, token: object) -> StoredKey | None:
        """The key whose token is ``token``, or ``None`` (constant-time comparisons)."""
        if not isinstance(token, str) or not token:
            return None
        found = None
        encoded = token.encode("utf-8", "surrogatepass")
        for key in self._keys.values():
            if secrets.compare_digest(encoded, key.token.encode("utf-8", "surrogatepass")):
                found = key
        return found

    def for_request(self, token: object) -> StoredKey | None:
        """The key a SQL or Maps API request runs as: no key is the default public key, an
        unknown key is ``None`` (401 ``Unauthorized``)."""
        if token is None or token == "":
            return self.default_public
        return self.lookup(token)

    def authenticate(self, token: object, *, master: bool) -> StoredKey:
        """Warden's ``auth_api`` (``master=True``) or ``any_auth_api`` strategy.

        An unknown key, no key, or (for ``master``) a non-master key is 401, empty body.
        """
        key = self.lookup(token)
        if key is None or (master and not key.is_master):
            raise AuthApiError(401)
        return key

    def _visible(self, name: object, viewer: StoredKey) -> StoredKey:
        key = self._keys.get(name) if isinstance(name, str) else None
        if key is None or (not viewer.is_master and key is not viewer):
            raise AuthApiError(404, f"API key not found: {name}")
        return key

    # -- grants ------------------------------------------------------------------------------

    def allows_api(self, key: StoredKey | None, api: str) -> bool:
        """True when ``key`` may call ``api`` (``"sql"`` or ``"maps"``)."""
        return key is not None and api in key.apis

    def can(
        self,
        key: StoredKey | None,
        table: str,
        permission: str,
        *,
        schema: str | None = None,
        public: bool = False,
    ) -> bool:
        """True when ``key`` may ``permission`` (select/insert/update/delete) ``table``.

        ``public`` says whether the table is readable by the public user (an import's
        ``public`` or ``link`` privacy): the default public key and every regular key may
        ``select`` those; the master key may do anything; a regular key may also do what it
        was granted on the table. ``None`` (an unknown key) may do nothing.
        """
        if key is None:
            return False
        if key.is_master:
            return True
        if permission == "select" and public:
            return True
        if not key.is_regular:
            return False
        granted = key.tables.get((schema or self.schema, table), ())
        return permission in granted

    def sql_denial(
        self,
        key: StoredKey | None,
        accesses: Iterable[tuple[str, str]],
        *,
        is_public: Callable[[str], bool],
    ) -> tuple[int, str] | None:
        """Why the SQL API refuses ``key`` a statement, as ``(status, message)``, or ``None``.

        ``accesses`` are the ``(table, permission)`` pairs the statement needs; ``is_public``
        tells whether a table is readable by the public user. The words are the SQL API's
        and PostgreSQL's: 401 ``Unauthorized`` (unknown key), 403 ``forbidden`` (no ``sql``
        grant), 403 ``permission denied for table <name>`` (render as ``{"error": [msg]}``).
        """
        if key is None:
            return 401, "Unauthorized"
        if not self.allows_api(key, "sql"):
            return 403, "forbidden"
        for table, permission in accesses:
            if not self.can(key, table, permission, public=is_public(table)):
                return 403, f"permission denied for table {table}"
        return None

    def maps_denial(self, key: StoredKey | None) -> tuple[int, str, str] | None:
        """Why the Maps API refuses ``key``, as ``(status, message, subtype)``, or ``None``.

        Windshaft's words (``errors_with_context`` type ``auth``): 401 ``Unauthorized``
        (``api-key-not-found``), 403 ``Forbidden`` (``api-key-does-not-grant-access``). Which
        tables a map may read is then :meth:`can`'s business, table by table.
        """
        if key is None:
            return 401, "Unauthorized", "api-key-not-found"
        if not self.allows_api(key, "maps"):
            return 403, "Forbidden", "api-key-does-not-grant-access"
        return None

    def read_denial(
        self,
        key: StoredKey | None,
        accesses: Iterable[tuple[str, str]],
        *,
        is_public: Callable[[str], bool],
    ) -> str | None:
        """Why ``key`` may not run a read-only query (a Maps API layer's SQL) that needs
        ``accesses``, in PostgreSQL's words, or ``None``.

        Each table read needs :meth:`can` ``select``; anything else the query would do (a
        write smuggled after a ``;``) is refused, whatever the key was granted: layers only
        read. The first refused table is named: ``permission denied for table <name>``.
        """
        for table, permission in accesses:
            if permission != "select" or not self.can(
                key, table, "select", public=is_public(table)
            ):
                return f"permission denied for table {table}"
        return None

    def readable_tables(self, key: StoredKey | None) -> set[tuple[str, str]]:
        """The tables ``key`` was granted ``select`` on (public tables aside)."""
        if key is None or not key.is_regular:
            return set()
        return {t for t, perms in key.tables.items() if "select" in perms}

    # -- the controller's actions ------------------------------------------------------------

    def create(self, name: object, grants: object, *, token: str | None = None) -> StoredKey:
        """``create_regular_key!``: quota, then the model's validations (422), then save.

        ``token`` gives the new key a chosen token (LocalCarto's own preset keys).
        """
        if token is not None and self.lookup(token) is not None:
            raise ValueError("another key already has this token")
        if self.max_regular_keys is not None:
            regular = sum(1 for k in self._keys.values() if k.is_regular)
            if regular + 1 > self.max_regular_keys:
                raise AuthApiError(403, _QUOTA)
        messages = [f"Grants {m}" for m in _grant_errors(grants)]
        text = "" if name is None else name if isinstance(name, str) else str(name)
        if not _present(name):
            messages.append("Name can't be blank")
        elif text in self._keys:
            messages.append("Name has already been taken")
        if text in (MASTER_NAME, DEFAULT_PUBLIC_NAME):
            messages.append(f"Name api_key name cannot be {MASTER_NAME} nor {DEFAULT_PUBLIC_NAME}")
        if not any(m.startswith("Grants ") for m in messages):
            assert isinstance(grants, list)
            if not self._grantable(grants):
                messages.append("Grants can only grant table permissions you have")
        if messages:
            raise AuthApiError(422, "Validation failed: " + ", ".join(messages))
        assert isinstance(grants, list)
        at = self._now()
        key = StoredKey(
            text,
            TYPE_REGULAR,
            token or self._unique_token(),
            **self._parse_grants(grants),
            created_at=at,
            updated_at=at,
        )
        self._keys[text] = key
        return key

    def _grantable(self, grants: list[dict[str, Any]]) -> bool:
        for section in grants:
            if section.get("type") != "database":
                continue
            for table in section.get("tables") or ():
                exists = self._table_exists
                if exists is not None and not exists(table["schema"], table["name"]):
                    return False
        return True

    @staticmethod
    def _parse_grants(grants: list[dict[str, Any]]) -> dict[str, Any]:
        apis: tuple[str, ...] = ()
        tables: dict[tuple[str, str], tuple[str, ...]] = {}
        services: tuple[str, ...] = ()
        extra: list[dict[str, Any]] = []
        metadata = False
        for section in grants:
            kind = section.get("type")
            if kind == "apis":
                apis = tuple(dict.fromkeys(section.get("apis") or ()))
            elif kind == "database":
                metadata = "table_metadata" in section
                for table in section.get("tables") or ():
                    ident = (table["schema"], table["name"])
                    merged = dict.fromkeys((*tables.get(ident, ()), *table["permissions"]))
                    tables[ident] = tuple(merged)
            elif kind == "dataservices":
                services = tuple(section.get("services") or ())
            elif kind == "data-observatory":
                extra.append(dict(section))
        return {
            "apis": apis,
            "tables": tables,
            "services": services,
            "extra_sections": tuple(extra),
            "table_metadata": metadata,
        }

    def _unique_token(self) -> str:
        while True:
            token = self._new_token()
            if self.lookup(token) is None:
                return token

    def get(self, name: object, viewer: StoredKey) -> StoredKey:
        """``show``: any key may read itself; the master key reads every key."""
        return self._visible(name, viewer)

    def delete(self, name: object, viewer: StoredKey) -> None:
        """``destroy``: regular keys only (403 for the master and default public keys)."""
        if not viewer.is_master:
            raise AuthApiError(401)
        key = self._visible(name, viewer)
        if not key.is_regular:
            raise AuthApiError(403, _FORBIDDEN)
        del self._keys[key.name]

    def regenerate(self, name: object, viewer: StoredKey) -> StoredKey:
        """``regenerate_token``: a new token; the old one stops working at once.

        Regenerating the master key changes the account's master key. The default public
        key's token is fixed (``default_public``): the server's model refuses the save.
        """
        if not viewer.is_master:
            raise AuthApiError(401)
        key = self._visible(name, viewer)
        if key.is_default_public:
            raise AuthApiError(
                422,
                "Validation failed: Token must be default_public for default public keys",
            )
        key.token = self._unique_token()
        key.updated_at = self._now()
        return key

    def index(
        self, viewer: StoredKey, params: Mapping[str, Any]
    ) -> tuple[list[StoredKey], int, int, int]:
        """``index``: ``(keys on the page, total, page, per_page)`` after the server's checks.

        Master first, then default public, then regular keys, each group by ``order``
        (``updated_at`` by default, ascending); a non-master key sees only itself.
        """
        page = _ruby_to_i(params.get("page")) if _present(params.get("page")) else 1
        if page <= 0:
            raise _param_invalid("page")
        per_page = _ruby_to_i(params.get("per_page")) if _present(params.get("per_page")) else 20
        if per_page <= 0:
            raise _param_invalid("per_page")
        order = str(params.get("order")) if _present(params.get("order")) else "updated_at"
        if order not in _ORDERS:
            raise _param_invalid("order", _ruby_list(_ORDERS, symbols=True))
        direction = params.get("order_direction")
        direction = str(direction) if _present(direction) else "desc"
        if direction not in _DIRECTIONS:
            raise _param_invalid("order_direction", _ruby_list(_DIRECTIONS, symbols=True))
        raw_types = params.get("type")
        types = [t.strip() for t in str(raw_types or "").split(",")]
        types = [t for t in types if t]
        if any(t not in VALID_TYPES for t in types):
            raise _param_invalid("type", _ruby_list(VALID_TYPES))
        keys = [k for k in self._keys.values() if not types or k.type in types]
        if not viewer.is_master:
            keys = [k for k in keys if k is viewer]

        def sort_key(k: StoredKey) -> tuple[int, Any]:
            second: Any = {"type": k.type, "name": k.name, "updated_at": k.updated_at}[order]
            return (-_TYPE_WEIGHT.get(k.type, 0), second)

        keys.sort(key=sort_key)
        start = (page - 1) * per_page
        return keys[start : start + per_page], len(keys), page, per_page

    # -- JSON ----------------------------------------------------------------------------------

    def key_json(self, key: StoredKey) -> dict[str, Any]:
        """``ApiKeyPresenter#to_poro``: name, user, type, token, grants, timestamps."""
        database: dict[str, Any] = {"type": "database", "tables": [], "schemas": []}
        if key.is_regular:
            # What the database reports: tables with at least one privilege, privileges
            # sorted as string_agg(DISTINCT ...) returns them.
            database["tables"] = [
                {"schema": schema, "name": name, "owner": False, "permissions": sorted(perms)}
                for (schema, name), perms in key.tables.items()
                if perms
            ]
        if key.table_metadata:
            database["table_metadata"] = []
        grants: list[dict[str, Any]] = [{"type": "apis", "apis": list(key.apis)}, database]
        if key.services:
            grants.append({"type": "dataservices", "services": list(key.services)})
        for section in key.extra_sections:
            if section.get("datasets"):
                grants.append({"type": "data-observatory", "datasets": list(section["datasets"])})
        return {
            "name": key.name,
            "user": {"username": self.username},
            "type": key.type,
            "token": key.token,
            "grants": grants,
            "created_at": _ruby_time(key.created_at),
            "updated_at": _ruby_time(key.updated_at),
        }

    def index_json(self, viewer: StoredKey, params: Mapping[str, Any], url: str) -> dict[str, Any]:
        """The ``index`` body: ``total``, ``count``, ``result`` (with ``_links.self``), ``_links``.

        ``url`` is the collection's URL; paging links carry the request's parameters
        (sorted, as Rails' ``to_query`` does) except the key.
        """
        keys, total, page, per_page = self.index(viewer, params)
        last_page = -(-total // per_page)
        kept = {
            str(k): str(v)
            for k, v in params.items()
            if k not in ("api_key", "page", "per_page") and isinstance(v, str)
        }

        def link(number: int) -> dict[str, str]:
            query = urlencode(
                sorted({**kept, "page": str(number), "per_page": str(per_page)}.items())
            )
            return {"href": f"{url}?{query}"}

        links: dict[str, Any] = {"first": link(1), "last": link(last_page)}
        if page > 1:
            links["prev"] = link(page - 1)
        if last_page > page:
            links["next"] = link(page + 1)
        result = [
            {**self.key_json(k), "_links": {"self": f"{url}/{quote(k.name, safe='')}"}}
            for k in keys
        ]
        return {"total": total, "count": len(result), "result": result, "_links": links}

    def me_json(
        self,
        viewer: StoredKey | None,
        *,
        base_url: str,
        sql_api_template: str | None = None,
        maps_api_template: str | None = None,
        user_id: str | None = None,
        table_count: int = 0,
        limits: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``GET /api/v3/me``: the account's data for the master key; for anything else
        (no key, another key) only the front-end configuration, as CARTO answers anonymous
        visitors (the endpoint never answers 401)."""
        config = {
            "user_name": self.username,
            "sql_api_template": sql_api_template or base_url,
            "maps_api_template": maps_api_template or base_url,
            "base_url": base_url,
        }
        if viewer is None or not viewer.is_master:
            return {"user_frontend_version": "localcarto", "config": config}
        regular = sum(1 for k in self._keys.values() if k.is_regular)
        user_data = {
            "id": user_id,
            "email": f"{self.username}@localhost",
            "name": None,
            "last_name": None,
            "username": self.username,
            "state": "active",
            "account_type": "FREE",
            "table_count": table_count,
            "regular_api_key_quota": self.max_regular_keys,
            "regular_api_key_count": regular,
            "api_key": self.master.token,
            "base_url": base_url,
            "limits": dict(limits or {}),
            "actions": {"private_tables": True, "sync_tables": True, "engine_enabled": True},
        }
        return {
            "user_data": user_data,
            "default_fallback_basemap": {},
            "user_frontend_version": "localcarto",
            "config": config,
        }
