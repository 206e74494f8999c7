"""Small real-looking datasets written into a test's tmp_path."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

CSV_ROWS = 25


def stores_csv(folder: Path, name: str = "stores.csv") -> Path:
    path = folder / name
    lines = ["name,city,lat,lon,opened"]
    lines += [
        f"Store {i},Madrid,{40.4 + i / 1000:.4f},{-3.7 - i / 1000:.4f},2020-01-{i % 28 + 1:02d}"
        for i in range(CSV_ROWS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def parks_geojson(folder: Path, name: str = "parks.geojson") -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"name": f"Park {i}", "area": 10.5 * i},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[i, 0], [i + 1, 0], [i + 1, 1], [i, 0]]],
            },
        }
        for i in range(4)
    ]
    path = folder / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def zipped(folder: Path, name: str = "bundle.zip") -> Path:
    inner = stores_csv(folder, "bundled_shops.csv")
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(inner, "bundled_shops.csv")
    inner.unlink()
    return path
