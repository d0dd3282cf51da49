"""A province-sized SYNTHETIC bundle fed straight to the output functions (no pipeline run), for issue 11.

Made up, Shanxi-like in size: a 7000 x 5000 lon/lat raster of about 100 m cells (35 M pixels) with about
3 M populated cells in some 30,000 settlements, 30,000 facilities (27,000 village clinics, 2,600
township centres, 351 county hospitals, 30 regional ones) and 117 rectangular "counties". Minutes are
straight-line distance to the nearest facility serving each tier at 40 km/h plus noise. Every page says
it is synthetic.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from rasterio.transform import from_origin
from scipy.spatial import cKDTree
from shapely.geometry import box

from geoaccess.config import Tier
from geoaccess.outputs.index import coverage_curves, write_index
from geoaccess.outputs.maps import MapContext, overview_map, tier_map, write_facilities
from geoaccess.outputs.rasters import Surface, write_surface
from geoaccess.scoring import score_counties

H, W = 7000, 5000
LON0, LAT0, DLON, DLAT = 110.2, 40.7, 0.00115, 0.0009
TIERS = (Tier("primary", 15.0, 0.9), Tier("county", 60.0, 0.9), Tier("regional", 120.0, 0.9))


def make_case(seed: int = 11, cells: int = 3_000_000):
    """The synthetic inputs: cells (row, col, people, county, minutes per tier), facilities, counties."""
    rng = np.random.default_rng(seed)
    n_vill = 27_000
    vr, vc = rng.integers(20, H - 20, n_vill), rng.integers(20, W - 20, n_vill)
    size = rng.gamma(2.0, cells / n_vill / 2.0, n_vill).astype(int) + 5
    rad = np.sqrt(size) * 0.9
    idx = np.repeat(np.arange(n_vill), size)
    r = np.clip(np.round(vr[idx] + rng.normal(0, 1, idx.size) * rad[idx]), 0, H - 1).astype(np.int64)
    c = np.clip(np.round(vc[idx] + rng.normal(0, 1, idx.size) * rad[idx]), 0, W - 1).astype(np.int64)
    key = np.unique(r * W + c)
    row, col = key // W, key % W
    lon, lat = LON0 + (col + 0.5) * DLON, LAT0 - (row + 0.5) * DLAT
    people = rng.gamma(1.5, 20.0, key.size)
    ny, nx = 13, 9
    county = (np.minimum(row * ny // H, ny - 1) * nx + np.minimum(col * nx // W, nx - 1)).astype(np.int64)
    geoms, codes, names = [], [], []
    for k in range(ny * nx):
        y, x = divmod(k, nx)
        geoms.append(
            box(
                LON0 + x * W * DLON / nx,
                LAT0 - (y + 1) * H * DLAT / ny,
                LON0 + (x + 1) * W * DLON / nx,
                LAT0 - y * H * DLAT / ny,
            )
        )
        codes.append(f"14{k:04d}")
        names.append(f"合成县{k:03d}")
    counties = gpd.GeoDataFrame({"county_code": codes, "county_name": names}, geometry=geoms, crs=4326)

    # facilities: clinics at villages, township centres, three hospitals per county, regional ones
    n_town, n_reg = 2_600, 30
    fl = [LON0 + (vc + 0.5) * DLON, rng.uniform(LON0, LON0 + W * DLON, n_town)]
    ft = [LAT0 - (vr + 0.5) * DLAT, rng.uniform(LAT0 - H * DLAT, LAT0, n_town)]
    for g in geoms:
        x0, y0, x1, y1 = g.bounds
        fl.append(rng.uniform(x0, x1, 3))
        ft.append(rng.uniform(y0, y1, 3))
    fl.append(rng.uniform(LON0, LON0 + W * DLON, n_reg))
    ft.append(rng.uniform(LAT0 - H * DLAT, LAT0, n_reg))
    flon, flat = np.concatenate(fl), np.concatenate(ft)
    rank = np.r_[np.zeros(n_vill + n_town), np.ones(3 * len(geoms)), np.full(n_reg, 2)].astype(int)
    kind = np.r_[["村卫生室"] * n_vill, ["乡镇卫生院"] * n_town, ["县医院"] * (3 * len(geoms)), ["市医院"] * n_reg]
    facilities = gpd.GeoDataFrame(
        {
            "id": [f"S{i:05d}" for i in range(flon.size)],
            "name": [f"合成{k}{i:05d}" for i, k in enumerate(kind)],
            "tier": [TIERS[k].name for k in rank],
            "tier_rank": rank,
            "beds": np.where(rank == 0, rng.integers(0, 30, rank.size), rng.integers(100, 1500, rank.size)).astype(
                float
            ),
        },
        geometry=gpd.points_from_xy(flon, flat),
        crs=4326,
    )
    kx = np.cos(np.radians(37.5)) * 111.32
    minutes, nearest = {}, {}
    for i, t in enumerate(TIERS):
        sel = np.flatnonzero(rank >= i)
        tree = cKDTree(np.c_[flon[sel] * kx, flat[sel] * 111.32])
        d, j = tree.query(np.c_[lon * kx, lat * 111.32], workers=2)
        minutes[t.name] = d / 40.0 * 60.0 * rng.uniform(1.0, 1.6, d.size)
        nearest[t.name] = sel[j]
    return dict(
        row=row, col=col, people=people, county=county, counties=counties, facilities=facilities,
        minutes=minutes, nearest=nearest,
    )  # fmt: skip


def county_table(case: dict):
    return score_counties(case["counties"], case["people"], case["county"], case["minutes"], TIERS)


def write_bundle(case: dict, out: Path, table=None, ctx: MapContext | None = None) -> list[Path]:
    """The bundle's map pages and GeoTIFFs from the case, as ``Study.write`` writes them."""
    out.mkdir(parents=True, exist_ok=True)
    t = from_origin(LON0, LAT0, DLON, DLAT)
    fac, ranks = case["facilities"], case["facilities"]["tier_rank"].to_numpy()
    ctx = ctx or MapContext(
        lang="zh",
        title="合成省 — SYNTHETIC province-scale test",
        note="SYNTHETIC: every input of this bundle is made up (bench/large_bundle.py)",
        nav=[("index", "index.html"), ("overview", "overview.html")] + [(x.name, f"map_{x.name}.html") for x in TIERS],
    )
    table = county_table(case) if table is None else table
    files = [write_facilities(out, tiers=TIERS, facilities=fac, referral_minutes=np.full(len(fac), 30.0), ctx=ctx)]
    curves = {}
    for i, tier in enumerate(TIERS):
        m = case["minutes"][tier.name]
        surface = Surface.from_cells((H, W), case["row"], case["col"], m, t, "EPSG:4326")
        files.append(
            write_surface(out / f"travel_time_{tier.name}.tif", surface, {"tier": tier.name, "SYNTHETIC": "yes"})
        )
        nearest = np.bincount(case["nearest"][tier.name], weights=case["people"], minlength=len(fac))
        inside = m <= tier.threshold_min
        reach = np.bincount(case["nearest"][tier.name][inside], weights=case["people"][inside], minlength=len(fac))
        curves[tier.name] = coverage_curves(m, case["people"], case["county"], len(table), 2 * tier.threshold_min)
        files.append(
            tier_map(
                out / f"map_{tier.name}.html",
                tier_index=i,
                tiers=TIERS,
                counties=case["counties"],
                table=table,
                facilities=fac,
                serving=ranks >= i,
                nearest_people=nearest,
                reach_people=reach,
                surface=surface,
                ctx=ctx,
            )
        )
    files.append(
        overview_map(
            out / "overview.html",
            tiers=TIERS,
            counties=case["counties"],
            table=table,
            facilities=fac,
            ctx=ctx,
            tier_maps={x.name: f"map_{x.name}.html" for x in TIERS},
        )
    )
    files.append(
        write_index(
            out / "index.html",
            ctx=ctx,
            table=table,
            tiers=TIERS,
            maps=[("overview", "overview.html", "")] + [(x.name, f"map_{x.name}.html", "") for x in TIERS],
            files=[],
            settings={"study": "synthetic province"},
            curves=curves,
        )
    )
    return files


def write_large(out: Path, peak_rss, bundle_bytes):
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    t0 = time.perf_counter()
    case = make_case()
    print(
        f"SYNTHETIC case: {H}x{W} raster ({H * W / 1e6:.0f} M pixels), {case['row'].size:,} populated cells, "
        f"{len(case['facilities']):,} facilities; generated in {time.perf_counter() - t0:.1f} s"
    )
    table = county_table(case)  # scoring is not part of the write phase
    with peak_rss() as p:
        write_bundle(case, out, table)
    n_files = sum(1 for f in out.rglob("*") if f.is_file())
    print(
        f"large write: {p.seconds:.2f} s (CPU {p.cpu:.2f} s), write-phase RSS growth {p.growth / 1e6:.0f} MB (peak {p.peak / 1e6:.0f} MB), "
        f"bundle {bundle_bytes(out) / 1e6:.1f} MB in {n_files:,} files"
    )
