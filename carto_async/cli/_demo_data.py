"""The demo's sample datasets, generated the same way on every run (fixed seed).

Twenty-three datasets that import, in the formats people upload to CARTO (CSV with latitude
and longitude columns, TSV, GeoJSON points, lines and polygons, plain tables, zip archives),
and two that fail on purpose, with the importer's real error codes: an empty file and a CSV
with a broken quote.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from carto_async.cli._demo_places import CITIES, PERMITS, POLLUTANTS, PORTS, TREES, VOLCANOES

__all__ = ["EXPECTED_FAILURES", "SEED", "Dataset", "datasets", "write_datasets"]

SEED = 2015

#: ``relative path -> error code`` of the files that fail on purpose.
EXPECTED_FAILURES: dict[str, int] = {
    os.path.join("broken", "empty.csv"): 1005,  # Empty file
    os.path.join("broken", "unclosed_quote.csv"): 2003,  # Malformed CSV
}


@attrs.frozen
class Dataset:
    """One sample file: where it goes under the demo folder and its bytes."""

    path: str
    data: bytes


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _geojson(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1).encode()


def _feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _near(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    """A point within about ``km`` of ``(lat, lon)``."""
    dlat = rng.uniform(-km, km) / 111.0
    dlon = rng.uniform(-km, km) / (111.0 * max(0.2, math.cos(math.radians(lat))))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _ring(rng: random.Random, lat: float, lon: float, km: float, sides: int) -> list[list[float]]:
    """A closed, roughly round polygon ring around ``(lat, lon)``."""
    points = []
    for i in range(sides):
        angle = 2 * math.pi * i / sides
        r = km * rng.uniform(0.7, 1.0)
        dlat = r * math.sin(angle) / 111.0
        dlon = r * math.cos(angle) / (111.0 * max(0.2, math.cos(math.radians(lat))))
        points.append([round(lon + dlon, 6), round(lat + dlat, 6)])
    return [*points, points[0]]


def _zip(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        # A fixed timestamp keeps the archive's bytes the same on every run.
        info = zipfile.ZipInfo(name, date_time=(2015, 1, 1, 0, 0, 0))
        archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _points_csv(
    rng: random.Random, n: int, km: float, header: Sequence[str], row: Callable[..., list[Any]]
) -> bytes:
    rows = []
    for i in range(n):
        city = CITIES[i % len(CITIES)]
        lat, lon = _near(rng, city[2], city[3], km)
        rows.append(row(i, city, lat, lon))
    return _csv(header, rows)


def datasets(seed: int = SEED) -> list[Dataset]:
    """Every sample dataset, the same bytes for the same seed."""
    rng = random.Random(seed)
    out: list[Dataset] = []

    def add(path: str, data: bytes) -> None:
        out.append(Dataset(os.path.join(*path.split("/")), data))

    add(
        "cities/world_cities.csv",
        _csv(
            ["name", "country", "population", "latitude", "longitude"],
            [(n, c, p * 1000, la, lo) for n, c, la, lo, p in CITIES],
        ),
    )
    add(
        "cities/capitals_europe.csv",
        _csv(
            ["city", "country", "lat", "lon"],
            [(n, c, la, lo) for n, c, la, lo, _ in CITIES[:30]],
        ),
    )
    add(
        "cities/city_rankings.tsv",
        _csv(
            ["rank", "city", "score", "latitude", "longitude"],
            [
                (i + 1, n, round(rng.uniform(50, 100), 1), la, lo)
                for i, (n, _, la, lo, _) in enumerate(CITIES)
            ],
            delimiter="\t",
        ),
    )
    add(
        "transport/airports.csv",
        _points_csv(
            rng,
            59,
            25,
            ["iata", "name", "city", "runways", "latitude", "longitude"],
            lambda i, c, la, lo: [
                f"{c[0][:2].upper()}{chr(65 + i % 26)}",
                f"{c[0]} International",
                c[0],
                1 + i % 4,
                la,
                lo,
            ],
        ),
    )
    add(
        "transport/bike_stations.csv",
        _points_csv(
            rng,
            240,
            4,
            ["station_id", "name", "capacity", "lat", "lng"],
            lambda i, c, la, lo: [
                1000 + i,
                f"{c[0]} {i:03d}",
                rng.choice((15, 20, 25, 30)),
                la,
                lo,
            ],
        ),
    )
    add(
        "transport/bus_stops.tsv",
        _csv(
            ["stop_code", "stop_name", "wheelchair", "latitude", "longitude"],
            [
                [f"S{i:05d}", f"Stop {i}", rng.random() < 0.8, *_near(rng, 40.4168, -3.7038, 8)]
                for i in range(400)
            ],
            delimiter="\t",
        ),
    )
    add(
        "environment/weather_stations.tsv",
        _csv(
            ["station", "elevation_m", "opened", "latitude", "longitude"],
            [
                [
                    f"{c[0]} Obs.",
                    rng.randint(0, 900),
                    f"{rng.randint(1950, 2015)}-0{rng.randint(1, 9)}-15",
                    *_near(rng, c[2], c[3], 15),
                ]
                for c in CITIES
            ],
            delimiter="\t",
        ),
    )
    add(
        "environment/air_quality.csv",
        _points_csv(
            rng,
            300,
            10,
            ["sensor", "measured_at", "pollutant", "value", "latitude", "longitude"],
            lambda i, c, la, lo: [
                f"AQ-{i % 60:03d}",
                f"2015-03-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                POLLUTANTS[i % 4],
                round(rng.uniform(5, 80), 1),
                la,
                lo,
            ],
        ),
    )
    add(
        "environment/earthquakes.geojson",
        _geojson(
            [
                _feature(
                    {
                        "type": "Point",
                        "coordinates": [
                            round(rng.uniform(-180, 180), 4),
                            round(rng.uniform(-60, 70), 4),
                        ],
                    },
                    magnitude=round(rng.uniform(2.5, 7.5), 1),
                    depth_km=round(rng.uniform(1, 300), 1),
                    time=f"2015-{1 + i % 12:02d}-{1 + i % 28:02d}T0{i % 10}:12:00Z",
                )
                for i in range(150)
            ]
        ),
    )
    add(
        "environment/volcanoes.geojson",
        _geojson(
            [
                _feature({"type": "Point", "coordinates": [lo, la]}, name=name, elevation_m=elev)
                for name, la, lo, elev in VOLCANOES
            ]
        ),
    )
    add(
        "environment/protected_areas.geojson",
        _geojson(
            [
                _feature(
                    {"type": "Polygon", "coordinates": [_ring(rng, c[2] + 0.3, c[3] + 0.3, 12, 9)]},
                    name=f"{c[0]} Nature Reserve",
                    area_km2=rng.randint(50, 900),
                )
                for c in CITIES[:25]
            ]
        ),
    )
    add(
        "urban/parks.geojson",
        _geojson(
            [
                _feature(
                    {
                        "type": "Polygon",
                        "coordinates": [_ring(rng, *_near(rng, 41.3874, 2.1686, 6), 0.4, 7)],
                    },
                    name=f"Park {i + 1}",
                    playground=rng.random() < 0.5,
                )
                for i in range(40)
            ]
        ),
    )
    add(
        "urban/districts.geojson",
        _geojson(
            [
                _feature(
                    {
                        "type": "MultiPolygon",
                        "coordinates": [
                            [
                                [
                                    [lo, la],
                                    [lo + 0.05, la],
                                    [lo + 0.05, la + 0.04],
                                    [lo, la + 0.04],
                                    [lo, la],
                                ]
                            ],
                            [
                                [
                                    [lo + 0.06, la],
                                    [lo + 0.08, la],
                                    [lo + 0.08, la + 0.02],
                                    [lo + 0.06, la],
                                ]
                            ],
                        ],
                    },
                    district=f"D{row}{col}",
                    households=rng.randint(2000, 30000),
                )
                for row in range(4)
                for col in range(5)
                for la, lo in [(48.80 + row * 0.045, 2.25 + col * 0.09)]
            ]
        ),
    )
    add(
        "urban/cycle_lanes.geojson",
        _geojson(
            [
                _feature(
                    {
                        "type": "LineString",
                        "coordinates": [
                            [
                                round(-0.1276 + i * 0.004 + k * 0.003, 6),
                                round(51.5072 + rng.uniform(-0.02, 0.02), 6),
                            ]
                            for k in range(6)
                        ],
                    },
                    lane_id=i,
                    segregated=i % 3 == 0,
                )
                for i in range(30)
            ]
        ),
    )
    add(
        "urban/street_trees.csv",
        _csv(
            ["tree_id", "species", "diameter_cm", "planted", "latitude", "longitude"],
            [
                [
                    i,
                    rng.choice(TREES),
                    rng.randint(8, 120),
                    rng.randint(1960, 2014),
                    *_near(rng, 48.8566, 2.3522, 5),
                ]
                for i in range(800)
            ],
        ),
    )
    add(
        "urban/building_permits.csv",
        _csv(
            ["permit", "issued", "kind", "cost_eur", "address", "latitude", "longitude"],
            [
                [
                    f"P-2015-{i:04d}",
                    f"2015-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    rng.choice(PERMITS),
                    rng.randint(5, 900) * 1000,
                    f"Calle Mayor {i + 1}, Madrid",
                    *_near(rng, 40.4168, -3.7038, 6),
                ]
                for i in range(250)
            ],
        ),
    )
    add(
        "retail/stores.csv",
        _points_csv(
            rng,
            120,
            8,
            ["store_id", "city", "opened", "revenue", "latitude", "longitude"],
            lambda i, c, la, lo: [
                i + 1,
                c[0],
                f"{rng.randint(1995, 2014)}-06-01",
                round(rng.uniform(1e5, 5e6), 2),
                la,
                lo,
            ],
        ),
    )
    add(
        "retail/monthly_sales.csv",
        _csv(
            ["store_id", "month", "sales", "returns"],
            [
                [s, f"2014-{m:02d}", rng.randint(1000, 90000), rng.randint(0, 400)]
                for s in range(1, 41)
                for m in range(1, 13)
            ],
        ),
    )
    add(
        "retail/delivery_zones.geojson",
        _geojson(
            [
                _feature(
                    {"type": "Polygon", "coordinates": [_ring(rng, c[2], c[3], 20, 12)]},
                    zone=c[0],
                    fee=rng.choice((0, 2.5, 4.9)),
                )
                for c in CITIES[:20]
            ]
        ),
    )
    add(
        "health/hospitals.csv",
        _points_csv(
            rng,
            90,
            10,
            ["hospital", "beds", "emergency", "latitude", "longitude"],
            lambda i, c, la, lo: [
                f"{c[0]} General {i // len(CITIES) + 1}",
                rng.randint(80, 1200),
                "yes" if i % 3 else "no",
                la,
                lo,
            ],
        ),
    )
    add(
        "census/population_by_country.csv",
        _csv(
            ["country", "year", "population", "urban_share"],
            [
                [c, y, rng.randint(1_000_000, 90_000_000), round(rng.uniform(0.4, 0.95), 3)]
                for c in sorted({c[1] for c in CITIES})
                for y in (2000, 2005, 2010, 2015)
            ],
        ),
    )
    add(
        "archives/museums.zip",
        _zip(
            "museums.csv",
            _points_csv(
                rng,
                70,
                3,
                ["museum", "visitors", "latitude", "longitude"],
                lambda i, c, la, lo: [
                    f"{c[0]} Museum of {('Art', 'History', 'Science')[i % 3]}",
                    rng.randint(10_000, 4_000_000),
                    la,
                    lo,
                ],
            ),
        ),
    )
    add(
        "archives/ports.zip",
        _zip(
            "ports.geojson",
            _geojson(
                [
                    _feature(
                        {"type": "Point", "coordinates": [lo, la]}, port=f"Port of {n}", berths=b
                    )
                    for n, la, lo, b in PORTS
                ]
            ),
        ),
    )
    add("broken/empty.csv", b"")
    add(
        "broken/unclosed_quote.csv",
        (
            b"id,name,comment,latitude,longitude\n"
            b'1,Plaza Mayor,"a quote that never closes,40.4155,-3.7074\n'
            b"2,Puerta del Sol,fine,40.4169,-3.7035\n"
        ),
    )
    return out


def write_datasets(directory: str, seed: int = SEED) -> list[str]:
    """Write every dataset under ``directory``; return their paths, in order."""
    paths = []
    for dataset in datasets(seed):
        path = os.path.join(directory, dataset.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(dataset.data)
        paths.append(path)
    return paths
