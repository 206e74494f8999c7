"""The CARTO compatibility layer: SQL macros, and the small rewrite where the dialects differ.

Most of PostgreSQL/PostGIS is DuckDB + spatial as is. What is not:

* **Macros** (:data:`MACROS`, created as TEMP macros at start-up, so a persisted database holds
  none): ``CDB_LatLng``, ``CDB_TransformToWebmercator``, ``CDB_XYZ_Resolution``,
  ``CDB_XYZ_Extent``, ``CDB_UserTables()``, ``ST_SRID``, ``to_char``, ``json_agg``...
* **The rewrite** (:func:`rewrite`), token by token:

  - SRIDs. A DuckDB geometry carries its CRS in its *type* (``GEOMETRY('EPSG:4326')``), the
    way a PostGIS column carries it in its type modifier; an SRID is therefore a constant.
    ``ST_SetSRID(g, 4326)`` becomes ``ST_SetCRS(g, 'EPSG:4326')``, ``ST_Transform(g, 3857)``
    a transform with x/y axis order, ``ST_GeomFromText(wkt, 4326)`` and friends set the CRS.
  - Geography: ``x::geography`` is dropped, and a measure over a geography
    (``ST_Distance``, ``ST_DWithin``, ``ST_Area``, ``ST_Length``, ``ST_Perimeter``) becomes
    its spheroid twin, in metres (DuckDB's spheroid functions read latitude first).
  - ``ST_Extent`` (an aggregate returning a ``box2d`` in PostGIS) becomes
    ``ST_Extent(ST_Extent_Agg(g))``: a ``BOX_2D`` that ``ST_XMin``... and ``::geometry`` take.
  - ``ST_AsText`` prints PostGIS's WKT (``POINT(1 2)``, no space before the parenthesis).
  - ``generate_series`` in a select list returns rows (``unnest``), the ``public.`` and
    ``cartodb.`` schema prefixes are dropped, PostgreSQL type names become DuckDB's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from carto_async.testing.engine._sqltext import Token, tokenize

__all__ = ["MACROS", "PG_TO_DUCK_TYPES", "rewrite"]

_WEBMERCATOR_HALF = 20037508.342789244
_RESOLUTION_0 = 2 * _WEBMERCATOR_HALF / 256

#: Created at start-up (TEMP: never persisted in a database file).
MACROS = [
    "CREATE OR REPLACE TEMP MACRO cdb_latlng(lat, lon) AS"
    " ST_SetCRS(ST_Point(lon, lat), 'EPSG:4326')",
    "CREATE OR REPLACE TEMP MACRO _cdb_transform(g, target) AS"
    " ST_SetCRS(ST_Transform(g, coalesce(ST_CRS(g), 'EPSG:4326'), target, always_xy := true),"
    " target)",
    "CREATE OR REPLACE TEMP MACRO cdb_transformtowebmercator(g) AS _cdb_transform(g, 'EPSG:3857')",
    f"CREATE OR REPLACE TEMP MACRO cdb_xyz_resolution(z) AS {_RESOLUTION_0!r} / pow(2, z)",
    "CREATE OR REPLACE TEMP MACRO cdb_xyz_extent(x, y, z) AS"
    " ST_SetCRS(ST_TileEnvelope(z, x, y), 'EPSG:3857')",
    "CREATE OR REPLACE TEMP MACRO st_srid(g) AS CASE WHEN g IS NULL THEN NULL"
    " ELSE coalesce(TRY_CAST(split_part(ST_CRS(g), ':', 2) AS INTEGER), 0) END",
    "CREATE OR REPLACE TEMP MACRO _cdb_astext(g) AS regexp_replace(regexp_replace(ST_AsText(g),"
    " '(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION)"
    " \\(', '\\1(', 'g'), ', ', ',', 'g')",
    "CREATE OR REPLACE TEMP MACRO _cdb_ewkb_srid(h) AS CASE"
    " WHEN length(h) < 18 THEN NULL"
    " WHEN substr(h, 1, 2) = '01' AND (('0x' || substr(h, 9, 2))::INTEGER & 32) = 32"
    " THEN ('0x' || substr(h, 17, 2) || substr(h, 15, 2) || substr(h, 13, 2)"
    " || substr(h, 11, 2))::INTEGER"
    " WHEN substr(h, 1, 2) = '00' AND (('0x' || substr(h, 3, 2))::INTEGER & 32) = 32"
    " THEN ('0x' || substr(h, 11, 8))::INTEGER END",
    "CREATE OR REPLACE TEMP MACRO geometrytype(g) AS ST_GeometryType(g)::VARCHAR",
    "CREATE OR REPLACE TEMP MACRO _cdb_geometrytype(g) AS 'ST_' || CASE ST_GeometryType(g)::VARCHAR"
    " WHEN 'POINT' THEN 'Point' WHEN 'LINESTRING' THEN 'LineString' WHEN 'POLYGON' THEN 'Polygon'"
    " WHEN 'MULTIPOINT' THEN 'MultiPoint' WHEN 'MULTILINESTRING' THEN 'MultiLineString'"
    " WHEN 'MULTIPOLYGON' THEN 'MultiPolygon' ELSE 'GeometryCollection' END",
    "CREATE OR REPLACE TEMP MACRO st_asewkt(g) AS CASE WHEN st_srid(g) = 0 THEN _cdb_astext(g)"
    " ELSE 'SRID=' || st_srid(g) || ';' || _cdb_astext(g) END",
    "CREATE OR REPLACE TEMP MACRO _cdb_asgeojson(g, dp) AS"
    " regexp_replace(ST_AsGeoJSON(ST_ReducePrecision(g, pow(10, -dp)))::VARCHAR,"
    " '(\\d)\\.0([,\\]])', '\\1\\2', 'g')",
    "CREATE OR REPLACE TEMP MACRO _cdb_json_agg(x) AS to_json(list(x))",
    "CREATE OR REPLACE TEMP MACRO _cdb_to_char(t, f) AS strftime(t, replace(replace(replace("
    "replace(replace(replace(replace(replace(replace(replace(replace(replace(f,"
    " 'YYYY', '%Y'), 'Month', '%B'), 'Mon', '%b'), 'MM', '%m'), 'DD', '%d'), 'HH24', '%H'),"
    " 'HH12', '%I'), 'MI', '%M'), 'SS', '%S'), 'Day', '%A'), 'Dy', '%a'), 'AM', '%p'))",
    # Between the closest points (planar), on the spheroid: exact for points.
    "CREATE OR REPLACE TEMP MACRO _cdb_geog_distance(a, b) AS"
    " ST_Distance_Spheroid(ST_FlipCoordinates(ST_ClosestPoint(a, b)::GEOMETRY)::POINT_2D,"
    " ST_FlipCoordinates(ST_ClosestPoint(b, a)::GEOMETRY)::POINT_2D)",
    "CREATE OR REPLACE TEMP MACRO _cdb_geog_dwithin(a, b, d) AS _cdb_geog_distance(a, b) <= d",
    # In metres: buffered in an azimuthal equidistant projection centred on the geometry (what
    # PostGIS does for a geography, with its own choice of projection), then back to 4326.
    "CREATE OR REPLACE TEMP MACRO _cdb_aeqd(g) AS '+proj=aeqd +lat_0=' ||"
    " ST_Y(ST_Centroid(g)) || ' +lon_0=' || ST_X(ST_Centroid(g)) || ' +datum=WGS84 +units=m'",
    "CREATE OR REPLACE TEMP MACRO _cdb_geog_buffer(g, m) AS ST_SetCRS(ST_Transform(ST_Buffer("
    "ST_Transform(g::GEOMETRY, 'EPSG:4326', _cdb_aeqd(g), always_xy := true), m),"
    " _cdb_aeqd(g), 'EPSG:4326', always_xy := true), 'EPSG:4326')",
    "CREATE OR REPLACE TEMP MACRO _cdb_geog_area(a) AS ST_Area_Spheroid(ST_FlipCoordinates(a))",
    "CREATE OR REPLACE TEMP MACRO _cdb_geog_length(a) AS ST_Length_Spheroid(ST_FlipCoordinates(a))",
    "CREATE OR REPLACE TEMP MACRO _cdb_geog_perimeter(a) AS"
    " ST_Perimeter_Spheroid(ST_FlipCoordinates(a))",
]

#: PostgreSQL type names (lower case, one word) -> DuckDB's.
PG_TO_DUCK_TYPES = {
    "int": "INTEGER",
    "integer": "INTEGER",
    "int4": "INTEGER",
    "serial": "INTEGER",
    "serial4": "INTEGER",
    "smallint": "SMALLINT",
    "int2": "SMALLINT",
    "bigint": "BIGINT",
    "int8": "BIGINT",
    "bigserial": "BIGINT",
    "serial8": "BIGINT",
    "real": "FLOAT",
    "float4": "FLOAT",
    "float": "DOUBLE",
    "float8": "DOUBLE",
    "numeric": "DOUBLE",
    "text": "VARCHAR",
    "varchar": "VARCHAR",
    "bpchar": "VARCHAR",
    "char": "VARCHAR",
    "character": "VARCHAR",
    "name": "VARCHAR",
    "citext": "VARCHAR",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "json": "JSON",
    "jsonb": "JSON",
    "bytea": "BLOB",
    "timestamptz": "TIMESTAMPTZ",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "time": "TIME",
    "uuid": "UUID",
    "interval": "INTERVAL",
    "money": "DECIMAL(18,2)",
    "raster": "BLOB",
    "geometry": "GEOMETRY",
    "geography": "GEOMETRY('EPSG:4326')",
    "box2d": "BOX_2D",
    "regclass": "VARCHAR",
}

_GEOGRAPHY_MEASURES = {
    "st_distance": "_cdb_geog_distance",
    "st_dwithin": "_cdb_geog_dwithin",
    "st_area": "_cdb_geog_area",
    "st_length": "_cdb_geog_length",
    "st_perimeter": "_cdb_geog_perimeter",
    "st_buffer": "_cdb_geog_buffer",
}
_RENAMES = {
    "json_build_object": "json_object",
    "jsonb_build_object": "json_object",
    "to_jsonb": "to_json",
    "json_agg": "_cdb_json_agg",
    "jsonb_agg": "_cdb_json_agg",
    "to_char": "_cdb_to_char",
    "st_astext": "_cdb_astext",
    "st_aswkt": "_cdb_astext",
    "st_geomfromewkt": "st_geomfromtext",
    "st_geometryfromtext": "st_geomfromtext",
    "st_geogfromtext": "st_geomfromtext",
    "st_geographyfromtext": "st_geomfromtext",
    "st_makepoint": "st_point",
    "st_numgeometries": "st_numgeometries",
    "st_geomfromewkb": "st_geomfromwkb",
    "st_geometrytype": "_cdb_geometrytype",
    "st_ashexewkb": "",
    "cdb_latlng": "cdb_latlng",
}
_EWKT = re.compile(r"'SRID=(\d+);\s*([A-Za-z]+\s*(?:[ZM]+\s*)?(?:\(.*\)|EMPTY))'", re.S | re.I)
_FROM_WORDS = frozenset(("from", "join", "lateral"))


def _sig(tokens: Sequence[Token], index: int, step: int) -> int:
    index += step
    while 0 <= index < len(tokens) and tokens[index][0] in ("ws", "comment"):
        index += step
    return index


def _close(tokens: Sequence[Token], open_index: int) -> int:
    depth = 0
    for index in range(open_index, len(tokens)):
        text = tokens[index][1]
        if tokens[index][0] == "op" and text == "(":
            depth += 1
        elif tokens[index][0] == "op" and text == ")":
            depth -= 1
            if depth == 0:
                return index
    return len(tokens) - 1


def _split_args(tokens: Sequence[Token]) -> list[list[Token]]:
    args: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token[0] == "op" and token[1] in ("(", "["):
            depth += 1
        elif token[0] == "op" and token[1] in (")", "]"):
            depth -= 1
        if depth == 0 and token == ("op", ","):
            args.append([])
        else:
            args[-1].append(token)
    return args if any(args) or len(args) > 1 else []


def _text(tokens: Sequence[Token]) -> str:
    return "".join(t for _, t in tokens)


def _srid_literal(arg: Sequence[Token]) -> int | None:
    sig = [t for t in arg if t[0] not in ("ws", "comment")]
    if len(sig) == 1 and sig[0][0] == "number" and sig[0][1].isdigit():
        return int(sig[0][1])
    return None


def _crs(srid: int) -> str:
    return "''" if srid == 0 else f"'EPSG:{srid}'"


def _has_geography(arg: Sequence[Token]) -> bool:
    sig = [t for t in arg if t[0] not in ("ws", "comment")]
    return any(
        sig[i][0] == "cast" and i + 1 < len(sig) and sig[i + 1][1].lower() == "geography"
        for i in range(len(sig))
    )


def _with_srid(call: str, args: Sequence[Sequence[Token]], plain: int) -> str | None:
    """``f(a, ..., srid)`` -> ``ST_SetCRS(f(a, ...), 'EPSG:srid')`` (``plain`` arguments)."""
    if len(args) != plain + 1:
        return None
    inner = f"{call}({', '.join(_text(a) for a in args[:plain])})"
    srid = _srid_literal(args[plain])
    return inner if srid is None else f"ST_SetCRS({inner}, {_crs(srid)})"


def _rewrite_call(
    name: str, args: list[list[Token]], in_select_list: bool, geography: Sequence[bool]
) -> str | None:
    """The DuckDB text for the call ``name(args)`` (already rewritten), or None to keep it.

    ``geography`` says which arguments were cast to geography.
    """
    if name == "cdb_usertables":
        return "cdb_usertables()"
    if name in _GEOGRAPHY_MEASURES and any(geography):
        if name == "st_dwithin" and len(args) >= 3:
            args = args[:3]
        elif name == "st_buffer":
            args = args[:2]
        elif name != "st_dwithin":
            args = args[:2] if name == "st_distance" else args[:1]
        return f"{_GEOGRAPHY_MEASURES[name]}({', '.join(_text(a) for a in args)})"
    if name == "st_setsrid" and len(args) == 2:
        srid = _srid_literal(args[1])
        return _text(args[0]) if srid is None else f"ST_SetCRS({_text(args[0])}, {_crs(srid)})"
    if name == "st_transform" and len(args) == 2:
        srid = _srid_literal(args[1])
        if srid is not None:
            return f"_cdb_transform({_text(args[0])}, 'EPSG:{srid}')"
    if name in ("st_geomfromtext", "st_geomfromewkt", "st_geomfromgeojson", "st_geomfromwkb"):
        name = "st_geomfromtext" if name == "st_geomfromewkt" else name
        if len(args) == 1 and _text(args[0]).startswith("ST_SetCRS("):
            return _text(args[0])  # EWKT, already read with its SRID
        return _with_srid(name, args, 1)
    if name in ("st_point", "st_makepoint"):
        return _with_srid("ST_Point", args, 2) or f"ST_Point({', '.join(_text(a) for a in args)})"
    if name == "st_makeenvelope":
        return _with_srid("ST_MakeEnvelope", args, 4)
    if name == "st_extent" and len(args) == 1:
        return f"ST_Extent(ST_Extent_Agg({_text(args[0])}))"
    if name == "st_asmvtgeom" and len(args) >= 2:
        bounds = f"ST_Extent(({_text(args[1])})::GEOMETRY)"
        rest = [_text(a) for a in args[2:]]
        return f"ST_AsMVTGeom({', '.join([_text(args[0]), bounds, *rest])})"
    if name == "generate_series" and in_select_list:
        return f"unnest(generate_series({', '.join(_text(a) for a in args)}))"
    if name == "st_ashexewkb" and args:
        return _text(args[0])  # geometries already travel as hex EWKB
    if name == "st_asgeojson" and len(args) >= 2:
        return f"_cdb_asgeojson({_text(args[0])}, {_text(args[1])})"
    if name == "st_npoints":
        return f"ST_NPoints({', '.join(_text(a) for a in args)})"
    if name in ("json_agg", "jsonb_agg") and args:
        return f"to_json(list({', '.join(_text(a) for a in args)}))"
    if name == "st_union" and len(args) == 1:
        return f"ST_Union_Agg({_text(args[0])})"
    if name == "st_collect" and len(args) == 1 and not _text(args[0]).lstrip().startswith("["):
        return f"ST_Collect(list({_text(args[0])}))"
    if name == "st_collect" and len(args) > 1:
        return f"ST_Collect([{', '.join(_text(a) for a in args)}])"
    if name in _RENAMES:
        return f"{_RENAMES[name]}({', '.join(_text(a) for a in args)})"
    return None


def rewrite(tokens: Sequence[Token]) -> list[Token]:
    """PostgreSQL/PostGIS tokens -> DuckDB tokens (see the module docstring)."""
    return _regex_operators(_rewrite(list(tokens), in_select_list=False))


_OPERAND_KINDS = ("ident", "qident", "string", "number")
_REGEX_OPERATORS = {"~": "regexp_matches({a}, {b})", "~*": "regexp_matches({a}, {b}, 'i')"}


def _regex_operators(tokens: list[Token]) -> list[Token]:
    """PostgreSQL's ``a ~ 'pattern'`` (a partial match) between simple operands."""
    out = list(tokens)
    index = 0
    while index < len(out):
        if out[index][0] == "op" and out[index][1] == "~":
            star = index + 1 < len(out) and out[index + 1] == ("op", "*")
            after = index + 1 + star
            prev = _sig(out, index, -1)
            nxt = _sig(out, after - 1, 1)
            if (
                prev >= 0
                and nxt < len(out)
                and out[prev][0] in _OPERAND_KINDS
                and out[nxt][0] in _OPERAND_KINDS
            ):
                template = _REGEX_OPERATORS["~*" if star else "~"]
                call = template.format(a=out[prev][1], b=out[nxt][1])
                out[prev : nxt + 1] = tokenize(call)
        index += 1
    return out


def _rewrite(tokens: list[Token], *, in_select_list: bool) -> list[Token]:
    out: list[Token] = []
    index = 0
    select_depth_flag = in_select_list
    while index < len(tokens):
        kind, text = tokens[index]
        low = text.lower()
        if kind == "ident" and low == "select":
            select_depth_flag = True
        elif kind == "ident" and low in _FROM_WORDS:
            select_depth_flag = False
        # schema prefixes PostgreSQL users write
        if kind in ("ident", "qident") and text.strip('"').lower() in ("public", "cartodb"):
            nxt = _sig(tokens, index, 1)
            if nxt < len(tokens) and tokens[nxt] == ("op", "."):
                index = nxt + 1
                continue
        # 'SRID=4326;POINT(1 2)' (EWKT) keeps its SRID: DuckDB's parser drops it
        ewkt = _EWKT.fullmatch(text) if kind == "string" else None
        if ewkt:
            cast = _sig(tokens, index, 1)
            word = _sig(tokens, cast, 1)
            if (
                word < len(tokens)
                and tokens[cast][0] == "cast"
                and tokens[word][1].lower() in ("geometry", "geography")
            ):
                index = word  # the cast is the geometry itself
            body = ewkt[2].replace("''", "'")
            out.extend(tokenize(f"ST_SetCRS(ST_GeomFromText('{body}'), {_crs(int(ewkt[1]))})"))
            index += 1
            continue
        # ::type casts
        if kind == "cast":
            nxt = _sig(tokens, index, 1)
            if nxt < len(tokens) and tokens[nxt][0] in ("ident", "qident"):
                type_word = tokens[nxt][1].strip('"').lower()
                if type_word == "geography":
                    index = nxt + 1
                    continue
                if type_word in PG_TO_DUCK_TYPES and type_word not in ("geometry",):
                    after = _sig(tokens, nxt, 1)
                    has_args = after < len(tokens) and tokens[after] == ("op", "(")
                    if not (has_args and type_word in ("varchar", "numeric", "char")):
                        out.append(("cast", "::"))
                        out.append(("ident", PG_TO_DUCK_TYPES[type_word]))
                        index = nxt + 1
                        continue
        # function calls
        if kind in ("ident", "qident"):
            nxt = _sig(tokens, index, 1)
            prev = _sig(tokens, index, -1)
            is_method = prev >= 0 and tokens[prev] == ("op", ".")
            if nxt < len(tokens) and tokens[nxt] == ("op", "(") and not is_method:
                close = _close(tokens, nxt)
                raw = list(tokens[nxt + 1 : close])
                inner = _rewrite(raw, in_select_list=False)
                args = _split_args(inner)
                name = text.strip('"').lower()
                geography = [_has_geography(a) for a in _split_args(raw)]
                replaced = _rewrite_call(
                    name, args, select_depth_flag and name != "select", geography
                )
                if replaced is not None:
                    out.extend(tokenize(replaced))
                else:
                    out.append((kind, text))
                    out.extend(tokens[index + 1 : nxt])
                    out.append(("op", "("))
                    out.extend(inner)
                    out.append(("op", ")"))
                index = close + 1
                continue
        out.append((kind, text))
        index += 1
    return out
