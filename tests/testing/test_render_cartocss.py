"""The CartoCSS subset: parsing, filters and the cascade, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from carto_async.testing.render import CartoCSSError, parse_cartocss

SHEET = """
@base: #ff0000;   // a variable
/* comments, and a URL in a string: "http://x" */
Map { background-color: #fff; buffer-size: 32; }
#stores {
  marker-fill: @base;
  marker-width: 10;
  [kind = 'shop'] { marker-fill: blue; }
  [n > 3] { marker-width: 20; }
  [n >= 3][kind = 'shop'] { marker-fill: green; }
  [zoom >= 10] { marker-width: 30; }
  [name =~ 'A.*'] { marker-line-color: black; }
  [flag = true] { marker-opacity: 0.5; }
  [missing = null] { marker-line-width: 1; }
  ::halo { marker-fill: white; marker-width: 40; }
}
#stores[kind = "park"], #stores[kind = 'forest'] { marker-fill: #0f0; }
"""


@pytest.mark.parametrize(
    ("attributes", "zoom", "expected"),
    [
        (
            {"kind": "other", "n": 1, "missing": 0},
            5,
            {"marker-fill": "#ff0000", "marker-width": "10"},
        ),
        ({"kind": "shop", "n": 1, "missing": 0}, 5, {"marker-fill": "blue", "marker-width": "10"}),
        ({"kind": "shop", "n": 4, "missing": 0}, 5, {"marker-fill": "green", "marker-width": "20"}),
        (
            {"kind": "shop", "n": "3", "missing": 0},
            5,
            {"marker-fill": "green", "marker-width": "10"},
        ),
        ({"kind": "x", "n": 1, "missing": 0}, 12, {"marker-fill": "#ff0000", "marker-width": "30"}),
        ({"kind": "park", "missing": 0}, 1, {"marker-fill": "#0f0", "marker-width": "10"}),
        ({"kind": "forest", "missing": 0}, 1, {"marker-fill": "#0f0", "marker-width": "10"}),
        (
            {"name": "Alice", "missing": 0},
            1,
            {"marker-fill": "#ff0000", "marker-width": "10", "marker-line-color": "black"},
        ),
        (
            {"name": "Bob", "flag": True, "missing": 0},
            1,
            {"marker-fill": "#ff0000", "marker-width": "10", "marker-opacity": "0.5"},
        ),
        ({"flag": 1, "missing": 0}, 1, {"marker-fill": "#ff0000", "marker-width": "10"}),
        ({}, 1, {"marker-fill": "#ff0000", "marker-width": "10", "marker-line-width": "1"}),
    ],
)
def test_the_cascade(attributes: dict[str, Any], zoom: int, expected: dict[str, str]) -> None:
    sheet = parse_cartocss(SHEET)
    resolved = sheet.resolve(attributes, zoom)
    assert resolved["__default__"] == expected
    assert resolved["halo"] == {"marker-fill": "white", "marker-width": "40"}


def test_map_properties_and_attachment_order() -> None:
    sheet = parse_cartocss(SHEET)
    assert sheet.map_properties == {"background-color": "#fff", "buffer-size": "32"}
    assert sheet.attachments == ("__default__", "halo")


def test_equal_specificity_the_later_rule_wins() -> None:
    sheet = parse_cartocss("#a { line-color: red; } #b { line-color: blue; }")
    assert sheet.resolve({}, 0)["__default__"] == {"line-color": "blue"}
    sheet = parse_cartocss("#a[n=1] { line-color: red; } #a { line-color: blue; }")
    assert sheet.resolve({"n": 1}, 0)["__default__"] == {"line-color": "red"}


@pytest.mark.parametrize(
    ("filter_text", "attributes", "matches"),
    [
        ("[n = 1]", {"n": 1.0}, True),
        ("[n = 1]", {"n": "1"}, True),
        ("[n != 1]", {"n": 2}, True),
        ("[n < 1]", {"n": None}, False),
        ("[n < 1]", {"n": "abc"}, False),
        ("[s > 'b']", {"s": "c"}, True),
        ("[s > 'b']", {"s": 5}, False),
        ("['odd name' = 'x']", {"odd name": "x"}, True),
        ("[s =~ '[ab]+']", {"s": "abba"}, True),
        ("[s =~ '[ab]+']", {"s": "abc"}, False),
        ("[s = null]", {"s": None}, True),
        ("[s != null]", {"s": None}, False),
    ],
)
def test_filters(filter_text: str, attributes: dict[str, Any], matches: bool) -> None:
    sheet = parse_cartocss(f"#l{filter_text} {{ line-width: 1; }}")
    assert bool(sheet.resolve(attributes, 0)) is matches


@pytest.mark.parametrize(
    ("css", "problems"),
    [
        (
            "#l { marker-fill: @a; line-color: @b; }",
            ["undefined variable @a", "undefined variable @b"],
        ),
        ("marker-fill: red;", ["property 'marker-fill' outside any selector"]),
        ("#l { marker-fill }", ["cannot read 'marker-fill'"]),
        ("#l[zoom > 'x'] { a: b; }", ["zoom filters compare with a whole number: [zoom > 'x']"]),
        ("#l[s =~ '('] { a: b; }", ["bad regular expression"]),
        ("#l { a: b; } }", ["unexpected '}'"]),
        ("#l[n = 1 { a: b; }", ["unclosed filter"]),
    ],
)
def test_every_problem_is_reported(css: str, problems: list[str]) -> None:
    with pytest.raises(CartoCSSError) as info:
        parse_cartocss(css)
    assert len(info.value.problems) == len(problems), info.value.problems
    for expected, actual in zip(problems, info.value.problems, strict=True):
        assert expected in actual
