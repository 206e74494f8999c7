"""Real places the demo's sample datasets are built around (approximate coordinates)."""

from __future__ import annotations

__all__ = ["CITIES", "PERMITS", "POLLUTANTS", "PORTS", "TREES", "VOLCANOES"]

# name, country, latitude, longitude, population (thousands, rounded)
CITIES: tuple[tuple[str, str, float, float, int], ...] = (
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

TREES = (
    "Platanus x hispanica",
    "Tilia cordata",
    "Acer platanoides",
    "Quercus robur",
    "Celtis australis",
    "Ginkgo biloba",
    "Prunus serrulata",
    "Fraxinus excelsior",
)
PERMITS = ("new building", "renovation", "demolition", "extension", "change of use")
POLLUTANTS = ("no2", "pm10", "pm25", "o3")

# name, latitude, longitude, elevation (m)
VOLCANOES: tuple[tuple[str, float, float, int], ...] = (
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

# city, latitude, longitude, berths
PORTS: tuple[tuple[str, float, float, int], ...] = (
    ("Rotterdam", 51.95, 4.14, 220),
    ("Antwerp", 51.26, 4.40, 180),
    ("Hamburg", 53.54, 9.97, 150),
    ("Valencia", 39.44, -0.32, 90),
    ("Algeciras", 36.13, -5.44, 70),
    ("Piraeus", 37.94, 23.64, 85),
    ("Singapore", 1.26, 103.84, 300),
    ("Shanghai", 31.23, 121.49, 350),
)
