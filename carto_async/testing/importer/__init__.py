"""LocalCarto's importer: what turns uploaded files and queries into CARTO tables.

The entry points are :func:`carto_async.testing._loader.load_file`, ``table_from_query`` and
``copy_table`` (CSV/TSV/TXT are read by ``_csvload``, GeoJSON by ``_loader``, what the readers
share is in ``_staging``); :mod:`._gdal` reads KML, GPX, GeoPackage and Shapefiles with GDAL,
in a private DuckDB instance that SQL API requests cannot reach.
"""

from __future__ import annotations

from carto_async.testing.importer._gdal import GDAL_EXTENSIONS, stage_gdal

__all__ = ["GDAL_EXTENSIONS", "stage_gdal"]
