"""Where the Maps API keeps its state: layergroups with their TTL, and named templates per
user with the server's validation and limits (Windshaft's MapStore and TemplateMaps)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from carto_async.models.maps import MapConfig
from carto_async.testing._windshaft._errors import MapsError

__all__ = [
    "DEFAULT_MAX_USER_TEMPLATES",
    "LAYERGROUP_TTL",
    "Clock",
    "LayergroupStore",
    "StoredLayergroup",
    "TemplateStore",
    "check_invalid_template",
    "fingerprint",
    "parse_layergroup_id",
    "template_name",
]

#: A clock returning seconds (``time.monotonic`` in a server, a fake in tests).
Clock = Callable[[], float]
#: ``mapConfigTTL``: a layergroup lives 2 h after its last use (the docs say five minutes).
LAYERGROUP_TTL = 7200.0
#: ``maxUserTemplates`` of the server's example configuration (the docs say 4096).
DEFAULT_MAX_USER_TEMPLATES = 1024
_NEAR_LIMIT = 100
_NEAR_LIMIT_REPEAT = 30 * 24 * 3600.0

_CREDENTIALS = frozenset({"api_key", "map_key"})
_NAME_RE = re.compile(r"^[a-z0-9][0-9a-z_-]*$", re.IGNORECASE)
_PLACEHOLDER_RE = re.compile(r"^[a-z][0-9a-z_]*$", re.IGNORECASE)


def _js_json(value: Any) -> str:
    # JSON.stringify's compact form: what the server hashes.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def fingerprint(value: Any) -> str:
    """md5 of the compact JSON of ``value`` (``TemplateMaps#fingerPrint``)."""
    return hashlib.md5(_js_json(value).encode(), usedforsecurity=False).hexdigest()


def template_name(template_id: str) -> str:
    """The template name in a ``:template_id`` path segment (``user@name`` gives ``name``)."""
    parts = template_id.split("@")
    return parts[1] if len(parts) > 1 else parts[0]


def _template_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    template = dict(raw)
    auth = template.get("auth")
    template["auth"] = {"method": "open", **(auth if isinstance(auth, Mapping) else {})}
    if template.get("placeholders") is None:
        template["placeholders"] = {}
    return template


def check_invalid_template(template: Mapping[str, Any]) -> str | None:
    """The first problem the server reports in a template (``_checkInvalidTemplate``), in its
    words, or ``None``."""
    if template.get("version") != "0.0.1":
        return f"Unsupported template version {_js_string(template.get('version'))}"
    name = template.get("name")
    if not name:
        return "Missing template name"
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"Invalid characters in template name '{_js_string(name)}'"
    layergroup = template.get("layergroup")
    if not layergroup:
        return "Missing layergroup"
    layers = layergroup.get("layers") if isinstance(layergroup, Mapping) else None
    if not isinstance(layers, list) or not layers:
        return "Missing or empty layers array from layergroup config"
    invalid = [
        str(i)
        for i, layer in enumerate(layers)
        if not (isinstance(layer, Mapping) and layer.get("options"))
    ]
    if invalid:
        return f"Missing `options` in layergroup config for layers: {', '.join(invalid)}"
    placeholders = template.get("placeholders") or {}
    if not isinstance(placeholders, Mapping):
        return "Invalid placeholders: an object is expected"
    for key, placeholder in placeholders.items():
        if not _PLACEHOLDER_RE.match(key):
            return f"Invalid characters in placeholder name '{key}'"
        if not isinstance(placeholder, Mapping) or "default" not in placeholder:
            return f"Missing default for placeholder '{key}'"
        if "type" not in placeholder:
            return f"Missing type for placeholder '{key}'"
    auth = template.get("auth") or {}
    method = auth.get("method") if isinstance(auth, Mapping) else None
    if method == "open":
        return None
    if method == "token":
        tokens = auth.get("valid_tokens")
        if not isinstance(tokens, list):
            return "Invalid 'token' authentication: missing valid_tokens"
        if not tokens:
            return "Invalid 'token' authentication: no valid_tokens"
        return None
    return f"Unsupported authentication method: {_js_string(method)}"


def _js_string(value: Any) -> str:
    # JavaScript's String(): how the server's messages print values.
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return _js_json(value) if isinstance(value, dict) else ",".join(map(_js_string, value))
    return str(value)


class TemplateStore:
    """Named templates of each user, stored as given (with the server's defaults filled in),
    at most ``limit`` per user (``0``: no limit). Safe to share between threads."""

    def __init__(
        self, *, limit: int = DEFAULT_MAX_USER_TEMPLATES, clock: Clock | None = None
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._templates: dict[str, dict[str, dict[str, Any]]] = {}
        self._near_limit_sent: dict[str, float] = {}
        self._lock = threading.RLock()

    def _of(self, user: str) -> dict[str, dict[str, Any]]:
        return self._templates.setdefault(user, {})

    def _checked(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise MapsError("Missing template name")
        # A key sent in the body is a credential, not part of the template: never stored.
        kept = {k: v for k, v in raw.items() if k not in _CREDENTIALS}
        template = _template_defaults(copy.deepcopy(kept))
        problem = check_invalid_template(template)
        if problem is not None:
            raise MapsError(problem)
        return template

    def create(self, user: str, raw: Any) -> tuple[str, str | None]:
        """Store a new template; returns its name and the near-limit message, if due."""
        template = self._checked(raw)
        with self._lock:
            templates = self._of(user)
            if self.limit and len(templates) >= self.limit:
                raise MapsError(
                    f"User '{user}' reached limit on number of templates "
                    f"({len(templates)}/{self.limit})",
                    status=409,
                )
            name = str(template["name"])
            if name in templates:
                raise MapsError(f"Template '{name}' of user '{user}' already exists")
            templates[name] = template
            return name, self._near_limit_message(user)

    def _near_limit_message(self, user: str) -> str | None:
        if not self.limit or len(self._of(user)) < self.limit - _NEAR_LIMIT:
            return None
        now = self._clock() if self._clock is not None else 0.0
        last = self._near_limit_sent.get(user)
        if last is not None and now - last < _NEAR_LIMIT_REPEAT:
            return None  # the server repeats the notice at most once a month
        self._near_limit_sent[user] = now
        return f"User {user} reaching the named maps limit"

    def update(self, user: str, name: str, raw: Any) -> None:
        """Replace a template; its name cannot change."""
        template = self._checked(raw)
        if name != template["name"]:
            raise MapsError(
                f"Cannot update name of a map template ('{name}' != '{template['name']}')"
            )
        with self._lock:
            templates = self._of(user)
            if name not in templates:
                raise MapsError(f"Template '{name}' of user '{user}' does not exist")
            templates[name] = template

    def get(self, user: str, name: str) -> dict[str, Any] | None:
        """A copy of the stored template, or ``None``."""
        with self._lock:
            template = self._of(user).get(name)
            return copy.deepcopy(template) if template is not None else None

    def delete(self, user: str, name: str) -> None:
        """Remove a template."""
        with self._lock:
            removed = self._of(user).pop(name, None)
        if removed is None:
            raise MapsError(f"Template '{name}' of user '{user}' does not exist")

    def names(self, user: str) -> list[str]:
        """The user's template names, in creation order."""
        with self._lock:
            return list(self._of(user))


@attrs.define
class StoredLayergroup:
    """A layergroup as the store keeps it: its MapConfig, its owner, the template (name and
    auth) of a named-map instance, and when it was last used."""

    token: str
    user: str
    config: MapConfig
    template: dict[str, Any] | None
    last_used: float
    cache: dict[str, Any] = attrs.field(factory=dict)

    @property
    def layergroup_id(self) -> str:
        """The id clients use: ``token:cachebuster``, and ``user@hash@token:cachebuster`` for
        a named-map instance (hash: first 8 hex digits of the template's fingerprint)."""
        plain = f"{self.token}:0"
        if self.template is None:
            return plain
        return f"{self.user}@{self.template['hash']}@{plain}"


def parse_layergroup_id(layergroup_id: str) -> tuple[str, str | None, str | None]:
    """``(token, signer, template_hash)`` of a layergroup id (``LayergroupToken.parse``)."""
    token = layergroup_id.split(":", maxsplit=1)[0]
    parts = token.split("@")
    signer = template_hash = None
    if len(parts) > 1:
        signer = parts.pop(0)
        if len(parts) > 1:
            template_hash = parts.pop(0)
        token = parts.pop(0)
    return token, signer, template_hash


class LayergroupStore:
    """Layergroups by token, each living ``ttl`` seconds after its last use on ``clock``.

    Safe to share between threads (a server may run handlers in a pool).
    """

    def __init__(self, clock: Clock, *, ttl: float = LAYERGROUP_TTL) -> None:
        self._clock = clock
        self.ttl = ttl
        self._items: dict[str, StoredLayergroup] = {}
        self._lock = threading.Lock()

    def save(
        self, user: str, config: MapConfig, template: Mapping[str, Any] | None = None
    ) -> StoredLayergroup:
        """Store (or refresh) a layergroup; the same config gets the same token."""
        document: dict[str, Any] = {"user": user, "config": config.to_json()}
        if template is not None:
            document["template"] = dict(template)
        token = fingerprint(document)
        with self._lock:
            self._purge()
            stored = self._items.get(token)
            if stored is None:
                stored = StoredLayergroup(
                    token, user, config, dict(template) if template else None, self._clock()
                )
                self._items[token] = stored
            stored.last_used = self._clock()
            return stored

    def load(self, layergroup_id: str) -> StoredLayergroup:
        """The layergroup of an id, touched; a missing or expired one raises the server's
        error."""
        token, _, _ = parse_layergroup_id(layergroup_id)
        now = self._clock()
        with self._lock:
            stored = self._items.get(token)
            if stored is not None and now - stored.last_used > self.ttl:
                del self._items[token]
                stored = None
            if stored is None:
                raise MapsError(f"Invalid or nonexistent map configuration token '{token}'")
            stored.last_used = now
            return stored

    def purge(self) -> None:
        """Forget layergroups unused for longer than the TTL (creations purge too; a tile
        request only checks its own layergroup, so it costs the same however many exist)."""
        with self._lock:
            self._purge()

    def _purge(self) -> None:
        now = self._clock()
        for token in [t for t, s in self._items.items() if now - s.last_used > self.ttl]:
            del self._items[token]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
