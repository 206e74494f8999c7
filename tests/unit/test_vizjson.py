"""The viz.json model and the sans-I/O decisions of viz.json requests and images."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from carto_async._core import vizjson as core
from carto_async._core.http import KeyPlacement
from carto_async._core.maps import ImageOptions
from carto_async.errors import APIError, ValidationError
from carto_async.models.maps import HttpLayer, MapnikLayer, PlainLayer, TorqueLayer
from carto_async.models.vizjson import BaseLayer, DataLayer, OtherLayer, VizJson

BASE = "https://demo.carto.com"
VIS = "2b13c956-e7c1-11e2-806b-5404a6a683d5"

BASEMAP: dict[str, Any] = {
    "id": "b1",
    "type": "tiled",
    "order": 0,
    "options": {
        "urlTemplate": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png",
        "subdomains": "abcd",
        "name": "Positron",
        "className": "positron",  # a key the model does not name
    },
}

V3: dict[str, Any] = {
    "version": "3.0.0",
    "id": VIS,
    "title": "stores",
    "description": None,
    "bounds": [[40.0, -4.0], [42.0, 2.0]],
    "center": "[41.0,-1.0]",
    "zoom": 6,
    "map_provider": "leaflet",
    "datasource": {
        "user_name": "demo",
        "maps_api_template": "https://{user}.carto.com",
        "stat_tag": VIS,
    },
    "overlays": [{"type": "zoom"}],
    "widgets": [],
    "layers": [
        BASEMAP,
        {
            "id": "l1",
            "type": "CartoDB",
            "visible": True,
            "infowindow": {"fields": [{"name": "name", "title": True}], "template": "<p/>"},
            "tooltip": {"fields": [{"name": "kind"}]},
            "legends": [],
            "options": {
                "layer_name": "stores",
                "sql": "select * from stores",
                "cartocss": "#l { marker-fill: #f00; }",
                "cartocss_version": "2.1.1",
                "attribution": "",
            },
        },
        {
            "id": "l2",
            "type": "CartoDB",
            "visible": False,
            "options": {"sql": "select * from hidden", "cartocss": "#l {}"},
        },
        {
            "id": "t1",
            "type": "torque",
            "options": {"table_name": "trips", "layer_name": "trips"},
            "cartocss": "Map { -torque-frame-count: 8; }",
            "cartocss_version": "1.0.0",
            "sql": "select * from trips",
        },
        {"type": "tiled", "order": 9, "options": {"urlTemplate": "https://x/{z}/{x}/{y}.png"}},
    ],
}

V2: dict[str, Any] = {
    "version": "0.1.0",
    "id": VIS,
    "bounds": [[40.0, -4.0], [42.0, 2.0]],
    "center": "[41.0,-1.0]",
    "zoom": 6,
    "scrollwheel": False,
    "layers": [
        {"type": "background", "order": 0, "options": {"color": "#112233"}},
        {
            "type": "layergroup",
            "options": {
                "user_name": "demo",
                "tiler_protocol": "https",
                "tiler_domain": "carto.com",
                "tiler_port": "443",
                "layer_definition": {
                    "stat_tag": VIS,
                    "version": "1.0.1",
                    "layers": [
                        {
                            "id": "a",
                            "type": "CartoDB",
                            "visible": True,
                            "infowindow": {"fields": []},
                            "legend": {"type": "none"},
                            "options": {
                                "sql": "select * from stores",
                                "cartocss": "#l {}",
                                "cartocss_version": "2.1.1",
                                "interactivity": "cartodb_id,name",
                            },
                        }
                    ],
                },
            },
        },
    ],
}


# --- the model ------------------------------------------------------------------------------


@pytest.mark.parametrize("document", [V3, V2], ids=["v3", "v2"])
def test_a_viz_json_round_trips_with_the_keys_the_model_does_not_name(
    document: dict[str, Any],
) -> None:
    original = copy.deepcopy(document)
    vis = VizJson.from_json(document)
    assert vis.to_json() == original
    assert document == original  # reading does not change the payload


def test_v3_layers_read_into_base_and_data_layers() -> None:
    vis = VizJson.from_json(V3)
    assert vis.version == "3.0.0"
    assert vis.bounds == ((40.0, -4.0), (42.0, 2.0))
    assert vis.bbox == (-4.0, 40.0, 2.0, 42.0)
    assert (vis.center, vis.zoom) == ((41.0, -1.0), 6)
    assert vis.extra["overlays"] == [{"type": "zoom"}]
    basemap = vis.basemap
    assert isinstance(basemap, BaseLayer)
    assert basemap.kind == "http"
    assert basemap.subdomains == ("a", "b", "c", "d")
    assert basemap.options["className"] == "positron"
    assert len(vis.base_layers) == 2
    first, hidden, torque = vis.data_layers
    assert (first.sql, first.cartocss, first.cartocss_version) == (
        "select * from stores",
        "#l { marker-fill: #f00; }",
        "2.1.1",
    )
    assert first.infowindow_fields == ("name",)
    assert first.tooltip_fields == ("kind",)
    assert first.interactive_columns == ("cartodb_id", "name", "kind")
    assert first.layer_name == "stores"
    assert hidden.visible is False
    assert torque.is_torque
    assert (torque.sql, torque.cartocss_version) == ("select * from trips", "1.0.0")
    assert vis.user_name == "demo"
    assert vis.maps_api_template == "https://{user}.carto.com"


def test_v2_layergroup_sublayers_are_the_data_layers() -> None:
    vis = VizJson.from_json(V2)
    group = vis.layers[1]
    assert isinstance(group, OtherLayer)
    (layer,) = vis.data_layers
    assert layer.interactivity == ("cartodb_id", "name")
    assert layer.legend == {"type": "none"}
    assert vis.basemap is not None
    assert vis.basemap.kind == "plain"
    assert vis.basemap.color == "#112233"
    assert vis.user_name == "demo"
    # No datasource: the v2 tiler_* members say where the Maps API is.
    assert vis.maps_api_template == "https://{user}.carto.com"


def test_to_mapconfig_makes_the_layers_cartodb_js_posts() -> None:
    vis = VizJson.from_json(V3)
    config = vis.to_mapconfig()
    first, torque = config.layers
    assert isinstance(first, MapnikLayer)
    assert first.type == "cartodb"
    assert first.interactivity == ("cartodb_id", "name", "kind")
    assert first.attributes is not None
    assert (first.attributes.id, first.attributes.columns) == ("cartodb_id", ("name",))
    assert isinstance(torque, TorqueLayer)
    config.validate()
    with_base = vis.to_mapconfig(basemap=True)
    assert isinstance(with_base.layers[0], HttpLayer)
    plain = vis.to_mapconfig(basemap=BaseLayer.plain("#000"))
    assert isinstance(plain.layers[0], PlainLayer)
    assert plain.layers[0].color == "#000"


def test_a_layer_without_sql_reads_its_table() -> None:
    layer = DataLayer.from_json(
        {"type": "CartoDB", "options": {"table_name": "stores", "tile_style": "#a {}"}}
    )
    assert (layer.sql, layer.cartocss) == ("select * from stores", "#a {}")


def test_a_named_map_viz_json_says_how_to_draw_it() -> None:
    named = {
        "version": "3.0.0",
        "datasource": {"user_name": "demo", "template_name": "tpl_abc"},
        "layers": [BASEMAP, {"type": "CartoDB", "options": {"cartocss": "#a {}"}}],
    }
    vis = VizJson.from_json(named)
    assert vis.named_map == "tpl_abc"
    with pytest.raises(ValidationError, match="named map 'tpl_abc'"):
        vis.to_mapconfig()


@pytest.mark.parametrize(
    "payload",
    [[], {"version": "3.0.0"}, {"layers": "x"}, {"layers": [1]}],
)
def test_malformed_viz_json_is_a_validation_error(payload: Any) -> None:
    with pytest.raises(ValidationError):
        VizJson.from_json(payload)
    with pytest.raises(APIError, match=r"unexpected viz\.json"):
        core.parse_vizjson(payload)


# --- requests ---------------------------------------------------------------------------------


def test_an_id_is_read_from_the_account_with_the_key_in_the_query() -> None:
    spec = core.vizjson_request(VIS, BASE)
    assert (spec.method, spec.path, spec.key) == (
        "GET",
        f"/api/v3/viz/{VIS}/viz.json",
        KeyPlacement.QUERY,
    )
    assert core.vizjson_request(VIS, BASE, version=2).path == f"/api/v2/viz/{VIS}/viz.json"
    # Public maps are served to anyone: without a key the request goes as the public user.
    assert core.vizjson_request(VIS, BASE, with_key=False).key is KeyPlacement.NONE


@pytest.mark.parametrize(
    ("url", "path", "key"),
    [
        (f"{BASE}/api/v2/viz/{VIS}/viz.json", f"/api/v2/viz/{VIS}/viz.json", KeyPlacement.QUERY),
        (
            f"https://other.carto.com/api/v2/viz/{VIS}/viz.json",
            f"https://other.carto.com/api/v2/viz/{VIS}/viz.json",
            KeyPlacement.NONE,
        ),
        (
            f"https://demo.carto.com.evil.io/api/v2/viz/{VIS}/viz.json",
            f"https://demo.carto.com.evil.io/api/v2/viz/{VIS}/viz.json",
            KeyPlacement.NONE,
        ),
        (
            f"http://demo.carto.com/api/v2/viz/{VIS}/viz.json",  # another scheme, another origin
            f"http://demo.carto.com/api/v2/viz/{VIS}/viz.json",
            KeyPlacement.NONE,
        ),
    ],
)
def test_a_url_gets_the_key_only_on_the_account(url: str, path: str, key: KeyPlacement) -> None:
    spec = core.vizjson_request(url, BASE)
    assert (spec.path, spec.key) == (path, key)


def test_a_url_under_another_user_of_the_same_host_gets_no_key() -> None:
    base = "https://carto.example.com/user/demo"
    own = core.vizjson_request(f"{base}/api/v3/viz/{VIS}/viz.json?x=1", base)
    assert (own.path, own.key, dict(own.params)) == (
        f"/api/v3/viz/{VIS}/viz.json",
        KeyPlacement.QUERY,
        {"x": "1"},
    )
    other = core.vizjson_request(
        f"https://carto.example.com/user/demo2/api/v3/viz/{VIS}/viz.json", base
    )
    assert other.key is KeyPlacement.NONE


@pytest.mark.parametrize(
    "value", ["", "  ", "a/b", "../x", "ftp://x/viz.json", "https://", 3, None]
)
def test_bad_ids_and_urls_are_refused_before_sending(value: Any) -> None:
    with pytest.raises(ValidationError):
        core.vizjson_request(value, BASE)


# --- basemaps, framing, endpoints ---------------------------------------------------------------


def test_basemap_overrides() -> None:
    tiles = core.basemap_layer("https://{s}.tile.example/{z}/{x}/{y}.png")
    assert (tiles.kind, tiles.subdomains) == ("http", ("a", "b", "c"))
    plain = core.basemap_layer("#202020")
    assert (plain.kind, plain.color) == ("plain", "#202020")
    mapping = core.basemap_layer({"type": "plain", "options": {"color": "red"}})
    assert mapping.to_map_layer() == PlainLayer(color="red")
    for bad in ("https://tiles.example/a.png", {"type": "http"}, "", 5):
        with pytest.raises(ValidationError):
            core.basemap_layer(bad)  # type: ignore[arg-type]


def test_an_image_mapconfig_starts_with_the_basemap_override_or_the_maps_own() -> None:
    vis = VizJson.from_json(V3)
    own = core.image_mapconfig(vis)
    assert isinstance(own.layers[0], HttpLayer)
    assert own.layers[0].url_template == BASEMAP["options"]["urlTemplate"]
    over = core.image_mapconfig(vis, BaseLayer.plain("#000"))
    assert isinstance(over.layers[0], PlainLayer)
    bare = VizJson.from_json({**V3, "layers": V3["layers"][1:2]})
    assert core.image_mapconfig(bare).layers[0] == core.DEFAULT_BASEMAP.to_map_layer()


VIS3 = VizJson.from_json(V3)
NO_BOUNDS = VizJson.from_json({**V3, "bounds": None, "zoom": None, "center": None})


@pytest.mark.parametrize(
    ("options", "vizjson", "override", "bbox", "center", "zoom"),
    [
        # The map's own bounds by default, as CartoDB.js.
        (ImageOptions(), VIS3, False, (-4.0, 40.0, 2.0, 42.0), None, None),
        # A zoom alone keeps the bounds...
        (ImageOptions().with_zoom(9), VIS3, False, (-4.0, 40.0, 2.0, 42.0), None, None),
        # ...unless override_bbox: then the map's centre at that zoom.
        (ImageOptions().with_zoom(9), VIS3, True, None, (41.0, -1.0), 9),
        (ImageOptions(), VIS3, True, None, (41.0, -1.0), 6),
        # An explicit centre replaces the bounds, with the map's zoom when none is given.
        (ImageOptions().with_center(10, 20), VIS3, False, None, (10, 20), 6),
        # An explicit bbox wins.
        (ImageOptions().with_bbox(0, 0, 1, 1), VIS3, False, (0, 0, 1, 1), None, None),
        # Nothing in the map: CartoDB.js's defaults, 0,0 at zoom 10.
        (ImageOptions(), NO_BOUNDS, False, None, (0.0, 0.0), 10),
    ],
)
def test_framing_follows_cartodb_js(
    options: ImageOptions,
    vizjson: VizJson,
    override: bool,
    bbox: Any,
    center: Any,
    zoom: Any,
) -> None:
    framed = core.frame(options, vizjson, override_bbox=override)
    assert (framed.bbox, framed.center, framed.zoom) == (bbox, center, zoom)
    framed.layergroup_path("abc:0")  # always a path the server takes


@pytest.mark.parametrize(
    ("template", "base", "root", "own"),
    [
        ("https://{user}.carto.com", BASE, BASE, True),
        ("https://{user}.carto.com", "https://other.carto.com", BASE, False),
        ("http://h:1/user/{user}", "http://h:1/user/demo", "http://h:1/user/demo", True),
        ("http://h:1/user/{user}", "http://h:1/user/demo2", "http://h:1/user/demo", False),
    ],
)
def test_the_image_is_made_on_the_viz_jsons_own_maps_api(
    template: str, base: str, root: str, own: bool
) -> None:
    vis = VizJson.from_json(
        {**V3, "datasource": {"user_name": "demo", "maps_api_template": template}}
    )
    endpoint = core.maps_endpoint(vis, base)
    assert endpoint == core.MapsEndpoint(root=root, own=own)
    spec = core.on_endpoint(core.static_image_request("/api/v1/map/static/x?layer=0"), endpoint)
    if own:
        assert (spec.path, spec.key, dict(spec.params)) == (
            "/api/v1/map/static/x",
            KeyPlacement.BASIC,
            {"layer": "0"},
        )
    else:
        assert (spec.path, spec.key) == (root + "/api/v1/map/static/x", KeyPlacement.NONE)


def test_a_viz_json_that_does_not_say_where_it_renders() -> None:
    bare = VizJson.from_json({"version": "3.0.0", "layers": V3["layers"][1:2]})
    assert core.maps_endpoint(bare, BASE) == core.MapsEndpoint(root=BASE, own=True)
    with pytest.raises(ValidationError, match="maps_api_template"):
        core.maps_endpoint(bare, BASE, fetched_from="https://elsewhere.example/viz.json")
