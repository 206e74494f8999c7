"""``carto-async sql -o FILE`` with the formats GDAL writes, against LocalCarto over loopback."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

from tests.cli.conftest import invoke

QUERY = (
    "select 'shop ' || i as name, i as n, ST_SetSRID(ST_MakePoint(i, i), 4326) as the_geom"
    " from generate_series(1, 5) as s(i)"
)


def test_sql_writes_a_geopackage_and_a_zipped_shapefile(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    gpkg = tmp_path / "shops.gpkg"
    result = invoke(["sql", QUERY, "-o", str(gpkg)], env)
    assert result.exit_code == 0, result.stderr
    conn = sqlite3.connect(gpkg)
    try:
        (table,) = conn.execute("SELECT table_name FROM gpkg_contents").fetchone()
        assert conn.execute(f'SELECT sum(n) FROM "{table}"').fetchone() == (15,)
    finally:
        conn.close()
    shp = tmp_path / "shops.zip"
    result = invoke(["sql", QUERY, "-o", str(shp)], env)
    assert result.exit_code == 0, result.stderr
    with zipfile.ZipFile(shp) as archive:
        assert {Path(n).suffix for n in archive.namelist()} >= {".shp", ".shx", ".dbf", ".prj"}
