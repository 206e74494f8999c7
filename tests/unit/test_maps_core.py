"""Maps API requests, URLs and error bodies, decided without I/O."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carto_async import (
    APIStatusError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from carto_async._core import maps as core
from carto_async._core.errors import error_from_response
from carto_async._core.http import KeyPlacement, Service
from carto_async.errors import APIError
from carto_async.models.maps import (
    CdnUrl,
    MapConfig,
    MapnikLayer,
    Placeholder,
    Template,
    TemplateAuth,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "maps"
TOKEN = "c01a54877c62831bb51720263f91fb33:1700000000000"
SECRET = "master-key-0123456789abcdef"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def config() -> MapConfig:
    return MapConfig(layers=[MapnikLayer(sql="select * from t", cartocss="#t{marker-fill:red;}")])


def template(**changes: Any) -> Template:
    base: dict[str, Any] = {"name": "stores", "layergroup": config()}
    return Template(**{**base, **changes})


def test_create_posts_the_config_as_json_with_the_key_in_a_header() -> None:
    spec = core.create_request(config())
    assert (spec.method, spec.path, spec.service) == ("POST", "/api/v1/map", Service.MAPS)
    assert spec.key is KeyPlacement.BASIC
    assert spec.json == config().to_json()
    assert "api_key" not in json.dumps(spec.json)
    assert spec.is_idempotent  # the same MapConfig gives the same layergroup


def test_create_accepts_a_plain_document_and_validates_it_first() -> None:
    assert core.create_request(config().to_json()).json == config().to_json()
    with pytest.raises(ValidationError) as info:
        core.create_request({"version": "9.0.0", "layers": []})
    assert len(info.value.problems) == 2


def test_parse_layergroup_rejects_bodies_without_an_id() -> None:
    assert core.parse_layergroup(load("named_instantiate_docs.json")).template_hash == "fd2861af"
    with pytest.raises(APIError, match="unexpected Maps API response"):
        core.parse_layergroup({"errors": []})


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({}, f"/api/v1/map/{TOKEN}/3/4/5.png"),
        ({"fmt": "png32"}, f"/api/v1/map/{TOKEN}/3/4/5.png32"),
        ({"fmt": "mvt"}, f"/api/v1/map/{TOKEN}/3/4/5.mvt"),
        ({"fmt": "grid.json", "layer": 0}, f"/api/v1/map/{TOKEN}/0/3/4/5.grid.json"),
        ({"fmt": "torque.json", "layer": 1}, f"/api/v1/map/{TOKEN}/1/3/4/5.torque.json"),
        ({"layer": [0, 2]}, f"/api/v1/map/{TOKEN}/0,2/3/4/5.png"),
        ({"layer": "all"}, f"/api/v1/map/{TOKEN}/all/3/4/5.png"),
        ({"layer": ["layer0", "stores"]}, f"/api/v1/map/{TOKEN}/layer0,stores/3/4/5.png"),
        ({"scale": 2}, f"/api/v1/map/{TOKEN}/3/4/5@2x.png"),
    ],
)
def test_tile_paths(kwargs: dict[str, Any], path: str) -> None:
    assert core.tile_path(TOKEN, 3, 4, 5, **kwargs) == path


def test_tile_path_of_a_named_instance_keeps_its_at_signs() -> None:
    group = "docs@fd2861af@c01a54877c62831bb51720263f91fb33:123"
    assert core.tile_path(group, 0, -1, 0) == f"/api/v1/map/{group}/0/-1/0.png"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((-1, 0, 0), {}, "zoom must be a non-negative integer"),
        ((0, 0, -1), {}, "tile y must be a non-negative integer"),
        ((0, 1.5, 0), {}, "tile x must be an integer"),
        ((0, 0, 0), {"fmt": "gif"}, "unsupported tile format 'gif'"),
        ((0, 0, 0), {"scale": 2, "layer": 0}, "retina scale"),
        ((0, 0, 0), {"scale": 2, "fmt": "mvt"}, "retina scale"),
        ((0, 0, 0), {"scale": 7}, "scale must be one of"),
        ((0, 0, 0), {"layer": []}, "layer filter is empty"),
        ((0, 0, 0), {"layer": ["all", 1]}, "'all' cannot be combined"),
        ((0, 0, 0), {"layer": "a/b"}, "invalid layer 'a/b'"),
        ((0, 0, 0), {"layer": -1}, "non-negative"),
    ],
)
def test_bad_tiles_are_refused_before_sending(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        core.tile_path(TOKEN, *args, **kwargs)


def test_a_bad_layergroup_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="invalid layergroup id"):
        core.tile_path("../etc/passwd", 0, 0, 0)


@pytest.mark.parametrize(
    ("cdn", "https", "url"),
    [
        (None, True, "https://u.carto.com/api/v1/map/T/0/0/0.png"),
        (CdnUrl("a.cdn.com", "s.cdn.com"), True, "https://s.cdn.com/u/api/v1/map/T/0/0/0.png"),
        (CdnUrl("a.cdn.com", "s.cdn.com"), False, "http://a.cdn.com/u/api/v1/map/T/0/0/0.png"),
        (
            CdnUrl(templates={"https": {"url": "https://{s}.cdn.net", "subdomains": ["x", "y"]}}),
            True,
            "https://y.cdn.net/u/api/v1/map/T/0/0/0.png",
        ),
    ],
)
def test_tile_urls_use_the_cdn_when_given(cdn: CdnUrl | None, https: bool, url: str) -> None:
    assert (
        core.tile_url(
            "https://u.carto.com",
            "u",
            "/api/v1/map/T/0/0/0.png",
            cdn=cdn,
            https=https,
            subdomain_seed=1,
        )
        == url
    )


def test_attributes_request() -> None:
    spec = core.attributes_request(TOKEN, 1, 42)
    assert spec.path == f"/api/v1/map/{TOKEN}/1/attributes/42"
    assert spec.method == "GET"
    assert spec.key is KeyPlacement.BASIC
    with pytest.raises(ValidationError):
        core.attributes_request(TOKEN, -1, 1)
    with pytest.raises(ValidationError):
        core.attributes_request(TOKEN, 0, "")


def test_static_image_paths() -> None:
    assert (
        core.static_center_path(TOKEN, zoom=4, lat=40.5, lng=-3, width=600, height=400)
        == f"/api/v1/map/static/center/{TOKEN}/4/40.5/-3/600/400.png"
    )
    assert (
        core.static_bbox_path(
            TOKEN, bbox=(-10, 35.5, 5, 44), width=8192, height=10, fmt="jpg", layer=[0, 1]
        )
        == f"/api/v1/map/static/bbox/{TOKEN}/-10,35.5,5,44/8192/10.jpg?layer=0%2C1"
    )
    assert (
        core.static_named_path("stores", width=300, height=200)
        == "/api/v1/map/static/named/stores/300/200.png"
    )
    path = core.static_named_path(
        "stores",
        width=300,
        height=200,
        zoom=3,
        center=(10, 20),
        params={"color": "red"},
        auth_token="tok",
        layer=1,
    )
    assert path == (
        "/api/v1/map/static/named/stores/300/200.png?zoom=3&lat=10&lon=20&layer=1"
        "&config=%7B%22color%22%3A%22red%22%7D&auth_token=tok"
    )


@pytest.mark.parametrize(
    ("width", "height", "fmt", "problems"),
    [
        (8193, 10, "png", 1),
        (0, 9000, "png", 2),
        (10, 10, "gif", 1),
        (8192, 8192, "jpg", 0),
    ],
)
def test_image_size_limit(width: int, height: int, fmt: str, problems: int) -> None:
    if not problems:
        core.check_image_size(width, height, fmt)
        return
    with pytest.raises(ValidationError) as info:
        core.check_image_size(width, height, fmt)
    assert len(info.value.problems) == problems


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: core.static_center_path(TOKEN, zoom=31, lat=0, lng=0, width=1, height=1), "zoom"),
        (lambda: core.static_center_path(TOKEN, zoom=1, lat=91, lng=0, width=1, height=1), "lat"),
        (lambda: core.static_bbox_path(TOKEN, bbox=(0, 10, 1, 5), width=1, height=1), "south"),
        (lambda: core.static_bbox_path(TOKEN, bbox=(0, 1, 2), width=1, height=1), "bbox"),
        (lambda: core.static_named_path("s", width=1, height=1, zoom=3), "together"),
        (lambda: core.static_named_path("bad name", width=1, height=1), "Invalid characters"),
    ],
)
def test_static_image_arguments_are_checked(call: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call()


def test_named_map_crud_requests() -> None:
    create = core.named_create_request(template(), secret=SECRET)
    assert (create.method, create.path) == ("POST", "/api/v1/map/named")
    assert create.json == template().to_json()
    assert not create.is_idempotent  # a repeat would answer "already exists"
    update = core.named_update_request(template(), secret=SECRET)
    assert (update.method, update.path) == ("PUT", "/api/v1/map/named/stores")
    assert update.is_idempotent
    get = core.named_get_request("stores")
    assert (get.method, get.path) == ("GET", "/api/v1/map/named/stores")
    delete = core.named_delete_request("stores")
    assert (delete.method, delete.path) == ("DELETE", "/api/v1/map/named/stores")
    listing = core.named_list_request()
    assert (listing.method, listing.path) == ("GET", "/api/v1/map/named")
    for spec in (create, update, get, delete, listing):
        assert spec.key is KeyPlacement.BASIC
        assert spec.service is Service.MAPS


def test_update_cannot_rename() -> None:
    with pytest.raises(ValidationError, match=r"Cannot update name of a map template"):
        core.named_update_request(template(), name="other")


def test_an_invalid_template_is_never_sent() -> None:
    with pytest.raises(ValidationError) as info:
        core.named_create_request(template(name="", auth=TemplateAuth("token")))
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(
    "where",
    [
        {"auth": TemplateAuth.token(SECRET)},
        {
            "layergroup": MapConfig(
                layers=[MapnikLayer(sql=f"select * from t where k = '{SECRET}'", cartocss="c")]
            )
        },
        {"placeholders": {"key": Placeholder("sql_literal", SECRET)}},
    ],
)
def test_the_master_key_is_never_written_into_a_template(where: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="contains your API key") as info:
        core.named_create_request(template(**where), secret=SECRET)
    assert SECRET not in str(info.value)
    with pytest.raises(ValidationError, match="contains your API key"):
        core.named_update_request(template(**where), secret=SECRET)


def test_instantiate_request() -> None:
    spec = core.named_instantiate_request("stores", {"color": "red"}, auth_token="tok")
    assert (spec.method, spec.path) == ("POST", "/api/v1/map/named/stores")
    assert spec.params == {"auth_token": "tok"}
    assert spec.json == {"color": "red"}
    assert spec.is_idempotent
    # The server needs a JSON body even without params.
    assert core.named_instantiate_request("stores").json == {}
    typed = template(placeholders={"color": Placeholder("css_color", "red")})
    with pytest.raises(ValidationError, match="Invalid css_color value"):
        core.named_instantiate_request("stores", {"color": "#12"}, template=typed)


def test_named_map_answers() -> None:
    assert core.parse_template_id(load("named_create.json")) == "acceptance1"
    assert core.parse_template_ids({"template_ids": ["a", "user@b"]}) == ["a", "b"]
    assert core.parse_template(load("named_get.json")).name == "acceptance1"
    for parse in (core.parse_template_id, core.parse_template_ids, core.parse_template):
        with pytest.raises(APIError, match="unexpected Maps API response"):
            parse({"nope": 1})


def maps_error(status: int, body: object) -> APIStatusError:
    return error_from_response(
        status_code=status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        service=Service.MAPS,
        method="GET",
        url="https://u.carto.com/api/v1/map",
    )


def body(message: str, **context: Any) -> dict[str, Any]:
    return {"errors": [message], "errors_with_context": [{"message": message, **context}]}


@pytest.mark.parametrize(
    ("status", "payload", "cls", "codes"),
    [
        (400, load("error_layer_has_no_attributes.json"), BadRequestError, ("unknown",)),
        (
            400,
            body(
                'relation "x" does not exist',
                type="layer",
                subtype="query",
                layer={"id": "layer0", "index": 0, "type": "mapnik"},
            ),
            BadRequestError,
            ("layer", "query"),
        ),
        (
            403,
            body("Unauthorized template instantiation", type="auth"),
            PermissionDeniedError,
            ("auth",),
        ),
        (404, body("Cannot find template 'x' of user 'u'", type="unknown"), NotFoundError, None),
        (
            409,
            body("User 'u' reached limit on number of templates (1024/1024)", type="unknown"),
            ConflictError,
            None,
        ),
        (
            429,
            body("You are over platform's limits", type="limit", subtype="rate-limit"),
            RateLimitError,
            ("limit", "rate-limit"),
        ),
    ],
)
def test_maps_error_bodies(
    status: int, payload: Any, cls: type[APIStatusError], codes: tuple[str, ...] | None
) -> None:
    error = maps_error(status, payload)
    assert type(error) is cls
    assert error.message == payload["errors"][0]
    assert len(error.errors_with_context) == 1
    context = error.errors_with_context[0]
    assert context.message == payload["errors"][0]
    if codes is not None:
        assert error.error_codes == codes


def test_layer_context_is_on_the_exception() -> None:
    error = maps_error(
        400,
        body(
            "syntax error",
            type="layer",
            subtype="query",
            layer={"id": "layer1", "index": 1, "type": "mapnik"},
        ),
    )
    context = error.errors_with_context[0]
    assert context.layer is not None
    assert (context.type, context.subtype, context.layer.id, context.layer.index) == (
        "layer",
        "query",
        "layer1",
        1,
    )


def test_an_expired_layergroup_says_to_create_or_instantiate_again() -> None:
    error = maps_error(400, {"errors": ["Invalid or nonexistent map configuration token 'ab'"]})
    assert isinstance(error, BadRequestError)
    assert "instantiate the named map again" in str(error)
    assert "layergroup-expired" in error.error_codes
    assert error.errors_with_context == ()


def test_other_services_have_no_map_context() -> None:
    error = error_from_response(
        status_code=400,
        content=b'{"error": ["syntax error"]}',
        headers={},
        service=Service.SQL,
    )
    assert error.errors_with_context == ()


def test_the_grid_fixture_is_parsed() -> None:
    grid = core.parse_grid(load("grid_utfgrid_layer0.json"))
    assert len(grid.grid) == 64
    # Row 24 of the fixture has '!' from column 36 to 44: pixels (4 * 40, 4 * 24).
    assert grid.key_at(160, 96) == "2"
    assert grid.data_at(160, 96) == {"cartodb_id": 2}
    assert grid.key_at(0, 0) is None
    assert grid.data_at(300, 10) is None
    with pytest.raises(APIError, match="unexpected Maps API response"):
        core.parse_grid({"grid": "nope"})


def test_an_empty_mvt_answer_is_an_empty_tile() -> None:
    assert core.tile_content(204, b"") == b""
    assert core.tile_content(200, b"\x1a\x00") == b"\x1a\x00"


def test_the_key_is_never_put_into_a_mapconfig_body() -> None:
    leaky = MapConfig(layers=[MapnikLayer(sql=f"select '{SECRET}'", cartocss="c")])
    with pytest.raises(ValidationError, match="contains your API key") as info:
        core.create_request(leaky, secret=SECRET)
    assert SECRET not in str(info.value)
    assert core.create_request(config(), secret=SECRET).json == config().to_json()


def test_image_options_are_immutable_and_replace_each_other() -> None:
    base = core.ImageOptions()
    centred = base.with_center(1, 2).with_zoom(3)
    assert (base.center, base.zoom) == (None, None)
    assert (centred.center, centred.zoom, centred.bbox) == ((1, 2), 3, None)
    boxed = centred.with_bbox(-1, -1, 1, 1)
    assert (boxed.center, boxed.zoom, boxed.bbox) == (None, None, (-1, -1, 1, 1))
    assert boxed.with_center(5, 6).bbox is None
    assert boxed.with_size(10, 20).with_format("jpg").layergroup_path(TOKEN) == (
        f"/api/v1/map/static/bbox/{TOKEN}/-1,-1,1,1/10/20.jpg"
    )
