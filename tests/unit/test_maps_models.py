"""The MapConfig builder and named-map templates: exact JSON, round trips, every problem at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carto_async import ValidationError
from carto_async.models.maps import (
    HttpLayer,
    LayerAttributes,
    Layergroup,
    MapConfig,
    MapErrorContext,
    MapnikLayer,
    Placeholder,
    PlainLayer,
    Template,
    TemplateAuth,
    TemplateView,
    TorqueLayer,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "maps"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def full_config() -> MapConfig:
    return MapConfig(
        layers=[
            MapnikLayer(
                id="stores",
                sql="select * from stores",
                cartocss="#layer { marker-fill: #f00; }",
                cartocss_version="2.1.1",
                interactivity=["cartodb_id", "name"],
                attributes=LayerAttributes("cartodb_id", ["name", "kind"]),
                geom_column="the_geom_webmercator",
                srid=3857,
                minzoom=2,
                maxzoom=18,
            ),
            TorqueLayer(sql="select * from ev", cartocss="Map { -torque-frame-count: 8; }", step=2),
            HttpLayer(url_template="https://{s}.tiles/{z}/{x}/{y}.png", subdomains="abc", tms=True),
            PlainLayer(color=(255, 0, 0, 128)),
            PlainLayer(image_url="https://example.com/bg.png"),
        ],
        buffersize={"png": 64, "grid.json": 64, "mvt": 0},
        extent=(-20037508.5, -20037508.5, 20037508.5, 20037508.5),
        srid=3857,
        minzoom=0,
        maxzoom=20,
    )


def test_the_builder_writes_the_exact_json_the_server_takes() -> None:
    assert full_config().to_json() == {
        "version": "1.8.0",
        "buffersize": {"png": 64, "grid.json": 64, "mvt": 0},
        "extent": [-20037508.5, -20037508.5, 20037508.5, 20037508.5],
        "srid": 3857,
        "minzoom": 0,
        "maxzoom": 20,
        "layers": [
            {
                "id": "stores",
                "type": "mapnik",
                "options": {
                    "sql": "select * from stores",
                    "cartocss": "#layer { marker-fill: #f00; }",
                    "cartocss_version": "2.1.1",
                    "interactivity": ["cartodb_id", "name"],
                    "attributes": {"id": "cartodb_id", "columns": ["name", "kind"]},
                    "geom_column": "the_geom_webmercator",
                    "srid": 3857,
                    "minzoom": 2,
                    "maxzoom": 18,
                },
            },
            {
                "type": "torque",
                "options": {
                    "sql": "select * from ev",
                    "cartocss": "Map { -torque-frame-count: 8; }",
                    "cartocss_version": "1.0.0",
                    "step": 2,
                },
            },
            {
                "type": "http",
                "options": {
                    "urlTemplate": "https://{s}.tiles/{z}/{x}/{y}.png",
                    "subdomains": ["abc"],
                    "tms": True,
                },
            },
            {"type": "plain", "options": {"color": [255, 0, 0, 128]}},
            {"type": "plain", "options": {"imageUrl": "https://example.com/bg.png"}},
        ],
    }
    assert full_config().problems() == []


def test_a_mapconfig_reads_back_what_it_wrote() -> None:
    config = full_config()
    again = MapConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert again.to_json() == config.to_json()
    assert again == config


def test_a_cartocss_layer_gets_a_cartocss_version() -> None:
    layer = MapnikLayer(sql="select 1", cartocss="#l{}")
    assert layer.to_json()["options"]["cartocss_version"] == "2.1.1"
    assert "cartocss_version" not in MapnikLayer(sql="select 1").to_json()["options"]


@pytest.mark.parametrize(
    "document",
    [
        # The reference's 1.0.0 style: no layer type, interactivity as a string.
        {
            "version": "1.0.0",
            "layers": [
                {
                    "options": {
                        "sql": "select * from t",
                        "cartocss": "#t{}",
                        "cartocss_version": "2.0.2",
                        "interactivity": "cartodb_id,name",
                    }
                }
            ],
        },
        # `cartodb` alias, unknown options and layer members are kept.
        {
            "version": "1.3.0",
            "stat_tag": "abc",
            "layers": [
                {
                    "type": "cartodb",
                    "options": {"sql": "s", "cartocss": "c", "cartocss_version": "2", "x": 1},
                    "extra": True,
                }
            ],
        },
        {"version": "1.8.0", "layers": [{"type": "mapnik", "options": {"sql": "select 1"}}]},
    ],
)
def test_documents_round_trip_exactly(document: dict[str, Any]) -> None:
    assert MapConfig.from_json(document).to_json() == document


def test_interactivity_string_is_split_into_columns() -> None:
    layer = MapnikLayer(sql="s", interactivity="cartodb_id, name")
    assert layer.interactivity_columns == ("cartodb_id", "name")
    assert layer.to_json()["options"]["interactivity"] == "cartodb_id, name"


def test_the_named_map_fixture_round_trips() -> None:
    document = load("named_get.json")
    template = Template.from_json(document)
    assert template.name == "acceptance1"
    assert template.auth.method == "open"
    layer = template.layergroup.layers[0]
    assert isinstance(layer, MapnikLayer)
    assert layer.type is None
    assert layer.interactivity_columns == ("cartodb_id",)
    assert template.to_json() == document["template"]
    assert template.problems() == []


def test_a_template_serialises_placeholders_auth_and_view() -> None:
    template = Template(
        name="stores_by-kind",
        layergroup=MapConfig(
            layers=[
                MapnikLayer(
                    sql="select * from stores where kind = '<%= kind %>'",
                    cartocss="#l { marker-fill: <%= color %>; }",
                )
            ],
            buffersize={"png": "<%= buffer %>"},
        ),
        placeholders={
            "kind": Placeholder("sql_literal", "shop"),
            "color": Placeholder("css_color", "#f00"),
            "buffer": Placeholder("number", 32),
            "tbl": {"type": "sql_ident", "default": "stores"},
        },
        auth=TemplateAuth.token("t1", "t2"),
        view=TemplateView(
            center=(40.4, -3.7), zoom=5, bounds=(-10, 35, 5, 44), preview_layers={0: True}
        ),
    )
    document = template.to_json()
    assert document["version"] == "0.0.1"
    assert document["auth"] == {"method": "token", "valid_tokens": ["t1", "t2"]}
    assert document["placeholders"]["tbl"] == {"type": "sql_ident", "default": "stores"}
    assert document["view"] == {
        "zoom": 5,
        "center": {"lng": -3.7, "lat": 40.4},
        "bounds": {"west": -10, "south": 35, "east": 5, "north": 44},
        "preview_layers": {"0": True},
    }
    assert template.problems() == []
    assert Template.from_json(document).to_json() == document


def test_every_template_problem_is_reported_at_once() -> None:
    template = Template(
        name="bad name!",
        version="0.0.2",
        layergroup=MapConfig(layers=[MapnikLayer(sql="")], buffersize={"png": "big"}),
        placeholders={
            "1st": Placeholder("number", 1),
            "nodefault": Placeholder("number", None),
            "notype": {"default": 3},
            "color": Placeholder("css_color", "not a colour"),
            "odd": Placeholder("date", "x"),
        },
        auth=TemplateAuth("token", []),
        view=TemplateView(zoom=99),
    )
    with pytest.raises(ValidationError) as info:
        template.validate()
    problems = info.value.problems
    expected = [
        "Unsupported template version 0.0.2",
        "Invalid characters in template name 'bad name!'",
        "layer 0: `sql` must be a non-empty string",
        'buffer size of format "png" must be a number',
        "Invalid characters in placeholder name '1st'",
        "Missing default for placeholder 'nodefault'",
        "Missing type for placeholder 'notype'",
        "Invalid css_color value for template parameter 'color'",
        "Invalid placeholder type 'date'",
        "Invalid 'token' authentication: no valid_tokens",
        "view: zoom must be an integer from 0 to 30",
    ]
    for text in expected:
        assert any(text in p for p in problems), (text, problems)
    assert len(problems) == len(expected)
    assert str(len(expected)) + " problems" in str(info.value)


@pytest.mark.parametrize(
    ("template_change", "problem"),
    [
        ({"layergroup": MapConfig(layers=[])}, "Missing or empty layers array"),
        ({"auth": TemplateAuth("token")}, "Invalid 'token' authentication: missing valid_tokens"),
        ({"auth": TemplateAuth("basic")}, "Unsupported authentication method: basic"),
        ({"name": ""}, "Missing template name"),
        ({"name": "_x"}, "Invalid characters in template name '_x'"),
    ],
)
def test_server_rules_in_the_servers_words(template_change: dict[str, Any], problem: str) -> None:
    base: dict[str, Any] = {
        "name": "ok",
        "layergroup": MapConfig(layers=[MapnikLayer(sql="s", cartocss="c")]),
    }
    template = Template(**{**base, **template_change})
    assert any(problem in p for p in template.problems()), template.problems()


def test_missing_layer_options_are_all_reported_when_reading() -> None:
    with pytest.raises(ValidationError) as info:
        Template.from_json(
            {
                "version": "0.0.1",
                "name": "x",
                "layergroup": {
                    "layers": [{"options": {"sql": "s"}}, {}, {"type": "nope", "options": {}}]
                },
            }
        )
    assert info.value.problems == [
        "layer 1: missing `options`",
        "layer 2: unsupported layer type 'nope'",
    ]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (MapConfig(layers=[], version="1.8.0"), "the map has no layers"),
        (MapConfig(layers=[MapnikLayer(sql="s")], version="2.0.0"), "unsupported layergroup"),
        (
            MapConfig(layers=[MapnikLayer(sql="s", cartocss="c"), MapnikLayer(sql="t")]),
            "either all mapnik layers or none",
        ),
        (MapConfig(layers=[TorqueLayer(sql="s", cartocss="")]), "`cartocss` must be"),
        (MapConfig(layers=[HttpLayer(url_template="https://x/a.png")]), "{z}, {x} and {y}"),
        (MapConfig(layers=[PlainLayer()]), "needs `color` or `image_url`"),
        (MapConfig(layers=[PlainLayer(color=(300, 0, 0))]), "0-255"),
        (
            MapConfig(layers=[MapnikLayer(sql="s", attributes=LayerAttributes("id"))]),
            "attributes.columns",
        ),
        (MapConfig(layers=[MapnikLayer(sql="s", minzoom=5, maxzoom=3)]), "minzoom 5 is above"),
        (MapConfig(layers=[MapnikLayer(sql="s")], minzoom=9, maxzoom=2), "minzoom 9 is above"),
        (MapConfig(layers=[MapnikLayer(sql="s")], extent=(1, 2, 3)), "`extent` must be four"),
        (MapConfig(layers=[MapnikLayer(sql="s", type="raster")]), "type is 'mapnik' or 'cartodb'"),  # type: ignore[arg-type]
    ],
)
def test_mapconfig_problems(config: MapConfig, problem: str) -> None:
    problems = config.problems()
    assert any(problem in p for p in problems), problems
    with pytest.raises(ValidationError):
        config.validate()


def test_placeholders_are_checked_in_instantiation_params() -> None:
    template = Template(
        name="t",
        layergroup=MapConfig(layers=[MapnikLayer(sql="s")]),
        placeholders={
            "n": Placeholder("number", 1),
            "c": Placeholder("css_color", "red"),
            "s": Placeholder("sql_literal", "a"),
        },
    )
    assert template.params_problems({"n": "-12", "c": "#abc", "s": "it's", "other": 1}) == []
    assert template.params_problems({"n": ".5e3"}) == []
    assert template.params_problems({"n": 1.5}) == []
    # The server's pattern refuses "1.5" as a string (but takes the JSON number 1.5).
    assert template.params_problems({"n": "1.5"}) != []
    assert template.params_problems({"n": "ten", "c": "#12", "s": 3}) == [
        "Invalid number value for template parameter 'n': 'ten'",
        "Invalid css_color value for template parameter 'c': '#12'",
        "Invalid sql_literal value for template parameter 's': 3 is not a string",
    ]


def test_layergroup_of_an_anonymous_map() -> None:
    group = Layergroup.from_json(
        {
            "layergroupid": "c01a54877c62831bb51720263f91fb33:1700000000000",
            "last_updated": "2023-11-14T11:20:15.123Z",
            "metadata": {
                "layers": [
                    {"type": "mapnik", "id": "layer0", "meta": {"stats": {}}, "tilejson": {}},
                    {"type": "torque", "meta": {"start": 0}},
                ]
            },
            "cdn_url": {
                "http": "api.cartocdn.com",
                "https": "cartocdn.global.ssl.fastly.net",
                "templates": {"https": {"url": "https://{s}.cdn", "subdomains": ["a", "b"]}},
            },
        }
    )
    assert group.token == "c01a54877c62831bb51720263f91fb33"
    assert group.cache_buster == "1700000000000"
    assert group.template_hash is None
    assert [layer.type for layer in group.layers] == ["mapnik", "torque"]
    assert group.layers[0].id == "layer0"
    assert group.last_updated is not None
    assert group.last_updated.microsecond == 123000
    assert group.cdn_url is not None
    assert group.cdn_url.https == "cartocdn.global.ssl.fastly.net"


def test_layergroup_fixtures_of_named_instances() -> None:
    docs = Layergroup.from_json(load("named_instantiate_docs.json"))
    assert docs.template_hash == "fd2861af"
    assert docs.token == "c01a54877c62831bb51720263f91fb33"
    assert docs.cache_buster == "123456788"
    assert docs.layers == ()
    quick = Layergroup.from_json(load("instantiate_quickstart_docs.json"))
    assert quick.layers[0].type == "mapnik"
    assert quick.cdn_url is None
    assert quick.last_updated is not None
    assert quick.last_updated.year == 1970


def test_error_context_reads_layer_details() -> None:
    context = MapErrorContext.from_json(
        {
            "type": "layer",
            "subtype": "query",
            "message": "relation x does not exist",
            "layer": {"id": "layer1", "index": 1, "type": "mapnik"},
        }
    )
    assert context.layer is not None
    assert (context.type, context.subtype, context.layer.index) == ("layer", "query", 1)
    assert MapErrorContext.from_json({}).type == "unknown"


def test_layer_ids_follow_the_servers_naming() -> None:
    config = MapConfig(
        layers=[
            MapnikLayer(sql="a"),
            TorqueLayer(sql="b", cartocss="c"),
            MapnikLayer(sql="c", type="cartodb"),
            MapnikLayer(sql="d", id="mine"),
            PlainLayer(color="red"),
            TorqueLayer(sql="e", cartocss="c"),
        ]
    )
    assert config.layer_ids() == [
        "layer0",
        "torque-layer0",
        "layer1",
        "mine",
        "plain-layer0",
        "torque-layer1",
    ]


def substitution_template() -> Template:
    return Template(
        name="subst",
        layergroup=MapConfig(
            layers=[
                MapnikLayer(
                    sql="select * from \"<%= tbl %>\" where kind = '<%=kind%>' and n > <%= n %>",
                    cartocss="#l { marker-fill: <%= color %>; marker-width: <%= n %>; }",
                ),
                MapnikLayer(sql="select 2", cartocss="#l { line-color: <%= color %>; }"),
            ],
            buffersize={"png": "<%= n %>", "mvt": 0},
        ),
        placeholders={
            "tbl": Placeholder("sql_ident", "stores"),
            "kind": Placeholder("sql_literal", "shop"),
            "n": Placeholder("number", 4),
            "color": Placeholder("css_color", "red"),
        },
    )


def test_instantiation_substitutes_defaults_and_params_escaped_by_type() -> None:
    template = substitution_template()
    defaults = template.instantiate()
    first = defaults.layers[0]
    assert isinstance(first, MapnikLayer)
    assert first.sql == "select * from \"stores\" where kind = 'shop' and n > 4"
    assert first.cartocss == "#l { marker-fill: red; marker-width: 4; }"
    assert defaults.buffersize == {"png": 4, "mvt": 0}
    given = template.instantiate(
        {"tbl": 'we"ird', "kind": "o'brien", "n": 10.0, "color": "#0f0", "styles": [None, "#x{}"]}
    )
    first, second = given.layers
    assert isinstance(first, MapnikLayer)
    assert isinstance(second, MapnikLayer)
    assert first.sql == "select * from \"we\"\"ird\" where kind = 'o''brien' and n > 10"
    assert first.cartocss == "#l { marker-fill: #0f0; marker-width: 10; }"
    assert second.cartocss == "#x{}"  # params.styles[i] replaces a layer's CartoCSS


def test_instantiation_reports_every_refused_value() -> None:
    with pytest.raises(ValidationError) as info:
        substitution_template().instantiate({"n": "ten", "color": "rgb(1,2,3)", "kind": 5})
    assert info.value.problems == [
        "Invalid sql_literal value for template parameter 'kind': 5 is not a string",
        "Invalid number value for template parameter 'n': 'ten'",
        "Invalid css_color value for template parameter 'color': 'rgb(1,2,3)'",
    ]
