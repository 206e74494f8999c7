"""Whose database role runs a layer's SQL in LocalCarto's Maps room, as a table: the caller's
key (its ``reader``) for anonymous maps and for what is read through a layergroup with a key or
without a signature; the owner for named maps and for signed instances read without a key
(Windshaft-cartodb's authorize middleware and named-map provider)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from carto_async.testing._windshaft import MapsResponse, Windshaft
from tests.testing.test_windshaft import MARKER, USER, DuckQuery, spatial_connection

CONFIG = {
    "version": "1.8.0",
    "layers": [
        {
            "type": "mapnik",
            "options": {
                "sql": "select * from pts",
                "cartocss": MARKER,
                "attributes": {"id": "cartodb_id", "columns": ["name"]},
            },
        }
    ],
}
TEMPLATE = {"version": "0.0.1", "name": "open_pts", "layergroup": CONFIG}


class Room:
    """A room whose owner and caller read the same data through two recording queries."""

    def __init__(self) -> None:
        con = spatial_connection()
        self.owner = DuckQuery(con)
        self.reader = DuckQuery(con)
        self.maps = Windshaft(self.owner)
        made = self.maps.create_map(USER, "master", CONFIG)
        self.anonymous = made.json()["layergroupid"]
        assert self.maps.create_template(USER, "master", TEMPLATE).status == 200
        signed = self.maps.instantiate(USER, "master", template_id="open_pts", body={})
        self.signed = signed.json()["layergroupid"]
        self.owner.statements.clear()

    def who(self) -> str:
        """Which query ran since the last call: ``owner``, ``reader``, both, or none."""
        ran = [n for n, q in (("owner", self.owner), ("reader", self.reader)) if q.statements]
        self.owner.statements.clear()
        self.reader.statements.clear()
        return "+".join(ran) or "none"


Action = Callable[[Room], MapsResponse]


def tile(key: Any, group: str) -> Action:
    return lambda r: r.maps.tile(
        USER, key, layergroup_id=getattr(r, group), z=0, x=0, y=0, fmt="mvt", reader=r.reader
    )


CASES: list[tuple[str, Action, str]] = [
    (
        "anonymous map, regular key",
        lambda r: r.maps.create_map(USER, "regular", CONFIG, reader=r.reader),
        "reader",
    ),
    (
        "anonymous map, public user",
        lambda r: r.maps.create_map(USER, "public", CONFIG, reader=r.reader),
        "reader",
    ),
    ("anonymous map, master key", lambda r: r.maps.create_map(USER, "master", CONFIG), "owner"),
    ("anonymous tile, public user", tile("public", "anonymous"), "reader"),
    ("anonymous tile, regular key", tile("regular", "anonymous"), "reader"),
    ("signed tile, no key", tile("public", "signed"), "owner"),
    ("signed tile, default public key", tile("default", "signed"), "reader"),
    ("signed tile, regular key", tile("regular", "signed"), "reader"),
    (
        "attributes, public user",
        lambda r: r.maps.attributes(
            USER, "public", layergroup_id=r.anonymous, layer=0, fid=1, reader=r.reader
        ),
        "reader",
    ),
    (
        "named map instance, public user",
        lambda r: r.maps.instantiate(USER, "public", template_id="open_pts", body={}),
        "owner",
    ),
    (
        "named tile, public user",
        lambda r: r.maps.named_tile(
            USER, "public", template_id="open_pts", layer="0", z=0, x=0, y=0, fmt="mvt"
        ),
        "owner",
    ),
    (
        "anonymous map, key without maps",
        lambda r: r.maps.create_map(USER, "denied", CONFIG, reader=r.reader),
        "none",
    ),
    ("anonymous tile, key without maps", tile("denied", "anonymous"), "none"),
]


@pytest.mark.parametrize(("case", "action", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_layers_sql_runs_as_the_servers_rule_says(
    case: str, action: Action, expected: str
) -> None:
    room = Room()
    response = action(room)
    assert room.who() == expected, case
    if expected == "none":
        assert response.status == 403
        assert response.json()["errors_with_context"][0]["subtype"] == (
            "api-key-does-not-grant-access"
        )
    else:
        assert response.status in (200, 204), response.body


def test_a_refused_read_is_the_layers_error_with_the_servers_status() -> None:
    def refusing(sql: str) -> list[tuple[Any, dict[str, Any]]]:
        raise RuntimeError("permission denied for table pts")

    room = Room()
    response = room.maps.create_map(USER, "regular", CONFIG, reader=refusing)
    assert response.status == 403
    message = "Postgis Plugin: permission denied for table pts"
    layer = {"id": "layer0", "index": 0, "type": "mapnik"}
    assert response.json() == {
        "errors": [message],
        "errors_with_context": [
            {"type": "layer", "message": message, "subtype": "query", "layer": layer}
        ],
    }
    tiled = room.maps.tile(
        USER, "public", layergroup_id=room.anonymous, z=0, x=0, y=0, fmt="mvt", reader=refusing
    )
    assert tiled.status == 403
    assert tiled.json()["errors"] == [message]
