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

__all__ = ["EXPECTED_FAILURES", "SEED", "Dataset", "datasets", "write_datasets"]

SEED = 2015

#: ``relative path -> error code`` of the files that fail on purpose.
EXPECTED_FAILURES: dict[str, int] = {
    os.path.join("broken", "empty.csv"): 1005,  # Empty file
    os.path.join("broken", "unclosed_quote.csv"): 2003,  # Malformed CSV
}

# name, country, latitude, longitude, population (thousands, rounded)
_CITIES: tuple[tuple[str, str, float, float, int], ...] = (
    ("Madrid", "Spain", 40.4168, -3.7038, 3223),
    ("Barcelona", "Spain", 41.3874, 2.1686, 1620),
    ("Valencia", "Spain", 39.4699, -0.3763, 792),
    ("Seville", "Spain", 37.3891, -5.9845, 688),
    ("Lisbon", "Portugal", 38.7223, -9.1393, 545),
    ("Porto", "Portugal", 41.1579, -8.6291, 232),
    ("Paris", "France", 48.8566, 2.3522, 2161),
    ("Lyon", "France", 45.7640, 4.8357, 516),
    ("Marseille", "France", 43.2965, 5.3698, 861),
    ("London", "United Kingdom", 51.5072, -0.1276, 8982),
    ("Manchester", "United Kingdom", 53.4808, -2.2426, 553),
    ("Dublin", "Ireland", 53.3498, -6.2603, 554),
    ("Amsterdam", "Netherlands", 52.3676, 4.9041, 872),
    ("Brussels", "Belgium", 50.8503, 4.3517, 185),
    ("Berlin", "Germany", 52.5200, 13.4050, 3645),
    ("Munich", "Germany", 48.1351, 11.5820, 1472),
    ("Hamburg", "Germany", 53.5511, 9.9937, 1841),
    ("Vienna", "Austria", 48.2082, 16.3738, 1897),
    ("Zurich", "Switzerland", 47.3769, 8.5417, 421),
    ("Rome", "Italy", 41.9028, 12.4964, 2873),
    ("Milan", "Italy", 45.4642, 9.1900, 1352),
    ("Naples", "Italy", 40.8518, 14.2681, 959),
    ("Athens", "Greece", 37.9838, 23.7275, 664),
    ("Warsaw", "Poland", 52.2297, 21.0122, 1790),
    ("Prague", "Czechia", 50.0755, 14.4378, 1309),
    ("Budapest", "Hungary", 47.4979, 19.0402, 1752),
    ("Copenhagen", "Denmark", 55.6761, 12.5683, 602),
    ("Stockholm", "Sweden", 59.3293, 18.0686, 975),
    ("Oslo", "Norway", 59.9139, 10.7522, 697),
    ("Helsinki", "Finland", 60.1699, 24.9384, 656),
    ("New York", "United States", 40.7128, -74.0060, 8336),
    ("Los Angeles", "United States", 34.0522, -118.2437, 3979),
    ("Chicago", "United States", 41.8781, -87.6298, 2694),
    ("San Francisco", "United States", 37.7749, -122.4194, 874),
    ("Toronto", "Canada", 43.6532, -79.3832, 2794),
    ("Mexico City", "Mexico", 19.4326, -99.1332, 9209),
    ("Bogota", "Colombia", 4.7110, -74.0721, 7413),
    ("Lima", "Peru", -12.0464, -77.0428, 9752),
    ("Buenos Aires", "Argentina", -34.6037, -58.3816, 3075),
    ("Sao Paulo", "Brazil", -23.5558, -46.6396, 12325),
    ("Santiago", "Chile", -33.4489, -70.6693, 6257),
    ("Cairo", "Egypt", 30.0444, 31.2357, 9540),
    ("Lagos", "Nigeria", 6.5244, 3.3792, 15388),
    ("Nairobi", "Kenya", -1.2921, 36.8219, 4397),
    ("Cape Town", "South Africa", -33.9249, 18.4241, 4618),
    ("Istanbul", "Turkey", 41.0082, 28.9784, 15462),
    ("Dubai", "United Arab Emirates", 25.2048, 55.2708, 3331),
    ("Mumbai", "India", 19.0760, 72.8777, 12442),
    ("Delhi", "India", 28.7041, 77.1025, 16787),
    ("Bangkok", "Thailand", 13.7563, 100.5018, 10539),
    ("Singapore", "Singapore", 1.3521, 103.8198, 5686),
    ("Jakarta", "Indonesia", -6.2088, 106.8456, 10562),
    ("Beijing", "China", 39.9042, 116.4074, 21540),
    ("Shanghai", "China", 31.2304, 121.4737, 24870),
    ("Seoul", "South Korea", 37.5665, 126.9780, 9776),
    ("Tokyo", "Japan", 35.6762, 139.6503, 13960),
    ("Sydney", "Australia", -33.8688, 151.2093, 5312),
    ("Melbourne", "Australia", -37.8136, 144.9631, 5078),
    ("Auckland", "New Zealand", -36.8485, 174.7633, 1657),
)

_TREES = (
    "Platanus x hispanica",
    "Tilia cordata",
    "Acer platanoides",
    "Quercus robur",
    "Celtis australis",
    "Ginkgo biloba",
    "Prunus serrulata",
    "Fraxinus excelsior",
)
_PERMITS = ("new building", "renovation", "demolition", "extension", "change of use")
_POLLUTANTS = ("no2", "pm10", "pm25", "o3")


@attrs.frozen
class Dataset:
    """One sample file: where it goes under the demo folder and its bytes."""

    path: str
    data: bytes
    description: str


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
        city = _CITIES[i % len(_CITIES)]
        lat, lon = _near(rng, city[2], city[3], km)
        rows.append(row(i, city, lat, lon))
    return _csv(header, rows)


def datasets(seed: int = SEED) -> list[Dataset]:
    """Every sample dataset, the same bytes for the same seed."""
    rng = random.Random(seed)
    out: list[Dataset] = []

    def add(path: str, data: bytes, description: str) -> None:
        out.append(Dataset(os.path.join(*path.split("/")), data, description))

    add(
        "cities/world_cities.csv",
        _csv(
            ["name", "country", "population", "latitude", "longitude"],
            [(n, c, p * 1000, la, lo) for n, c, la, lo, p in _CITIES],
        ),
        "cities, CSV with latitude/longitude",
    )
    add(
        "cities/capitals_europe.csv",
        _csv(
            ["city", "country", "lat", "lon"],
            [(n, c, la, lo) for n, c, la, lo, _ in _CITIES[:30]],
        ),
        "European cities, CSV with lat/lon",
    )
    add(
        "cities/city_rankings.tsv",
        _csv(
            ["rank", "city", "score", "latitude", "longitude"],
            [
                (i + 1, n, round(rng.uniform(50, 100), 1), la, lo)
                for i, (n, _, la, lo, _) in enumerate(_CITIES)
            ],
            delimiter="\t",
        ),
        "city scores, TSV",
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
        "airports",
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
        "bike-share stations, lat/lng",
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
        "bus stops in one city, TSV",
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
                for c in _CITIES
            ],
            delimiter="\t",
        ),
        "weather stations, TSV with dates",
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
                _POLLUTANTS[i % 4],
                round(rng.uniform(5, 80), 1),
                la,
                lo,
            ],
        ),
        "air quality readings",
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
        "earthquakes, GeoJSON points",
    )
    add(
        "environment/volcanoes.geojson",
        _geojson(
            [
                _feature({"type": "Point", "coordinates": [lo, la]}, name=name, elevation_m=elev)
                for name, la, lo, elev in (
                    ("Etna", 37.751, 14.9934, 3357),
                    ("Vesuvius", 40.821, 14.426, 1281),
                    ("Teide", 28.2724, -16.6425, 3715),
                    ("Hekla", 63.983, -19.666, 1491),
                    ("Fuji", 35.3606, 138.7274, 3776),
                    ("Kilauea", 19.421, -155.287, 1247),
                    ("Popocatepetl", 19.023, -98.622, 5426),
                    ("Cotopaxi", -0.677, -78.436, 5897),
                    ("Kilimanjaro", -3.0674, 37.3556, 5895),
                    ("Erebus", -77.53, 167.17, 3794),
                )
            ]
        ),
        "volcanoes, GeoJSON points",
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
                for c in _CITIES[:25]
            ]
        ),
        "protected areas, GeoJSON polygons",
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
        "parks in one city, GeoJSON polygons",
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
        "districts, GeoJSON multipolygons",
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
        "cycle lanes, GeoJSON lines",
    )
    add(
        "urban/street_trees.csv",
        _csv(
            ["tree_id", "species", "diameter_cm", "planted", "latitude", "longitude"],
            [
                [
                    i,
                    rng.choice(_TREES),
                    rng.randint(8, 120),
                    rng.randint(1960, 2014),
                    *_near(rng, 48.8566, 2.3522, 5),
                ]
                for i in range(800)
            ],
        ),
        "street trees in one city",
    )
    add(
        "urban/building_permits.csv",
        _csv(
            ["permit", "issued", "kind", "cost_eur", "address", "latitude", "longitude"],
            [
                [
                    f"P-2015-{i:04d}",
                    f"2015-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    rng.choice(_PERMITS),
                    rng.randint(5, 900) * 1000,
                    f"Calle Mayor {i + 1}, Madrid",
                    *_near(rng, 40.4168, -3.7038, 6),
                ]
                for i in range(250)
            ],
        ),
        "building permits, with quoted addresses",
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
        "stores",
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
        "monthly sales, a plain table",
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
                for c in _CITIES[:20]
            ]
        ),
        "delivery zones, GeoJSON polygons",
    )
    add(
        "health/hospitals.csv",
        _points_csv(
            rng,
            90,
            10,
            ["hospital", "beds", "emergency", "latitude", "longitude"],
            lambda i, c, la, lo: [
                f"{c[0]} General {i // len(_CITIES) + 1}",
                rng.randint(80, 1200),
                "yes" if i % 3 else "no",
                la,
                lo,
            ],
        ),
        "hospitals",
    )
    add(
        "census/population_by_country.csv",
        _csv(
            ["country", "year", "population", "urban_share"],
            [
                [c, y, rng.randint(1_000_000, 90_000_000), round(rng.uniform(0.4, 0.95), 3)]
                for c in sorted({c[1] for c in _CITIES})
                for y in (2000, 2005, 2010, 2015)
            ],
        ),
        "population by country, a plain table",
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
        "museums, a CSV in a zip",
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
                    for n, la, lo, b in (
                        ("Rotterdam", 51.95, 4.14, 220),
                        ("Antwerp", 51.26, 4.40, 180),
                        ("Hamburg", 53.54, 9.97, 150),
                        ("Valencia", 39.44, -0.32, 90),
                        ("Algeciras", 36.13, -5.44, 70),
                        ("Piraeus", 37.94, 23.64, 85),
                        ("Singapore", 1.26, 103.84, 300),
                        ("Shanghai", 31.23, 121.49, 350),
                    )
                ]
            ),
        ),
        "ports, a GeoJSON in a zip",
    )
    add("broken/empty.csv", b"", "an empty file (fails: 1005)")
    add(
        "broken/unclosed_quote.csv",
        (
            b"id,name,comment,latitude,longitude\n"
            b'1,Plaza Mayor,"a quote that never closes,40.4155,-3.7074\n'
            b"2,Puerta del Sol,fine,40.4169,-3.7035\n"
        ),
        "a CSV whose quote never closes (fails: 2003)",
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
