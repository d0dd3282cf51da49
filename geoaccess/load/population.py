"""Population: a gridded GeoTIFF (WorldPop / GHSL style) in any CRS, read strip by strip.

Only cells with people are kept, as points at cell centres with their county (the cell-centre rule of
:func:`~geoaccess.load.counties.county_grid`, rasterised per strip too, so a province-sized 100 m grid
is never held whole). Optionally the cells are rescaled so that every county's sum equals its census
total, to the person (:func:`rescale_to_census`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import rasterio
import shapely
from rasterio.windows import Window
from tqdm.auto import tqdm

from geoaccess.errors import InputError
from geoaccess.load.counties import county_grid

log = logging.getLogger(__name__)


@dataclass
class Population:
    """Populated cells: centre lon/lat, people, county index, raster row/col and the grid they came from."""

    lon: np.ndarray
    lat: np.ndarray
    people: np.ndarray  # float64
    county: np.ndarray  # int32 index into the counties table
    row: np.ndarray
    col: np.ndarray
    transform: object
    shape: tuple[int, int]
    crs: object
    outside_people: float = 0.0
    source: str = ""
    census: CensusReport | None = None
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.people.size)

    def county_sums(self, n_counties: int) -> np.ndarray:
        return np.bincount(self.county, weights=self.people, minlength=n_counties)


@dataclass
class CensusReport:
    """How census totals met the counties."""

    source: str
    matched: int = 0
    census_people: float = 0.0
    raster_people: float = 0.0  # in the matched counties, before rescaling
    unmatched_census: list[tuple[str, str, float]] = field(default_factory=list)  # code, name, people
    counties_without_census: list[tuple[str, str]] = field(default_factory=list)
    counties_without_people: list[tuple[str, str, float]] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)
    outside_scope: int = 0

    def lines(self) -> list[str]:
        out = [
            f"census: {self.source}: {self.matched} counties rescaled to {self.census_people:,.0f} people "
            f"(raster had {self.raster_people:,.0f})"
        ]
        for c, n, p in self.unmatched_census:
            out.append(f"  census row with no matching county: {c} {n} ({p:,.0f} people) - not counted")
        for c, n in self.counties_without_census:
            out.append(f"  county with no census row: {c} {n} - raster values kept")
        for c, n, p in self.counties_without_people:
            out.append(f"  county {c} {n} has a census total ({p:,.0f}) but no populated cells - not rescaled")
        for r in self.bad_rows:
            out.append(f"  {r}")
        return out


def read_population(
    path: str | Path,
    counties,
    block_rows: int = 1024,
    *,
    crs=None,
    census: str | Path | pd.DataFrame | None = None,
    census_code_field: str = "CODE",
    census_population_field: str = "POPU",
    census_name_field: str = "NAME",
) -> Population:
    """Read populated cells of a raster, assigning each to the county containing its centre.

    Parameters
    ----------
    path
        GeoTIFF (or any raster GDAL reads) of people per cell, in any CRS.
    counties
        County polygons (``county_code``, ``county_name``, ``geometry``).
    block_rows
        Rows per strip; strips are aligned to the file's internal blocks.
    crs
        CRS of a raster that carries none.
    census
        A CSV (adcode, population) or a table from :func:`read_census`: rescale so county sums equal it.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("population raster not found; check [inputs] population", path=path)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot open as a raster ({exc})", path=path) from exc
    with src:
        rcrs = src.crs if src.crs is not None else crs
        if rcrs is None:
            raise InputError(
                "the raster has no coordinate reference system; name it in the study "
                '(population = { path = ..., crs = "EPSG:4326" }) or set one with gdal_edit -a_srs',
                path=path,
            )
        cproj = counties.to_crs(rcrs)
        _check_overlap(cproj, src, path)
        nodata = src.nodata
        bh = src.block_shapes[0][0] if src.block_shapes else 1
        step = max(bh, (block_rows // bh) * bh) if bh < src.height else block_rows
        parts = {k: [] for k in ("row", "col", "people", "county")}
        outside = 0.0
        in_any = 0
        negative_cells, negative_sum = 0, 0.0
        for r0 in tqdm(range(0, src.height, step), desc="reading population", unit="strip", disable=None):
            h = min(step, src.height - r0)
            win = Window(0, r0, src.width, h)
            a = src.read(1, window=win).astype(np.float64)
            if nodata is not None:
                a[a == nodata] = 0.0
            neg = a < 0
            negative_cells += int(neg.sum())
            negative_sum += float(a[neg].sum())
            a[~np.isfinite(a) | neg] = 0.0
            grid = county_grid(cproj, src.transform, src.shape, rcrs, window=win)
            in_any += int((grid >= 0).sum())
            rr, cc = np.nonzero(a > 0)
            g = grid[rr, cc]
            outside += float(a[rr[g < 0], cc[g < 0]].sum())
            keep = g >= 0
            parts["row"].append(rr[keep] + r0)
            parts["col"].append(cc[keep])
            parts["people"].append(a[rr[keep], cc[keep]])
            parts["county"].append(g[keep])
        if in_any == 0:
            raise _no_overlap(path, src, cproj)
        row, col, people, county = (np.concatenate(parts[k]) for k in ("row", "col", "people", "county"))
        xs, ys = rasterio.transform.xy(src.transform, row, col, offset="center")
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        if pyproj.CRS.from_user_input(rcrs) != pyproj.CRS.from_epsg(4326):
            tf = pyproj.Transformer.from_crs(rcrs, "EPSG:4326", always_xy=True)
            xs, ys = tf.transform(xs, ys)
        pop = Population(
            lon=np.asarray(xs),
            lat=np.asarray(ys),
            people=people,
            county=county.astype(np.int32),
            row=row,
            col=col,
            transform=src.transform,
            shape=src.shape,
            crs=rcrs,
            outside_people=outside,
            source=str(path),
        )
    if pop.people.sum() <= 0:
        raise InputError(
            "no people: every raster cell inside the counties is nodata, zero or negative. Check that the raster "
            "holds people per cell, covers the counties, and that its nodata value is set right",
            path=path,
        )
    if negative_cells:
        pop.warnings.append(
            f"{path}: {negative_cells:,} cells hold negative values (sum {negative_sum:,.0f}) and were counted as "
            "0 people; if they mark missing data, set the raster's nodata value (gdal_edit -a_nodata)"
        )
    if outside > 0:
        pop.warnings.append(f"{path}: {outside:,.0f} people in cells outside every county were left out")
    empty = np.flatnonzero(np.bincount(pop.county, minlength=len(counties)) == 0)
    if empty.size:
        names = [
            " ".join(str(counties[c].iat[i]) for c in ("county_code", "county_name") if c in counties.columns)
            for i in empty[:5]
        ]
        pop.warnings.append(
            f"{path}: {empty.size} of {len(counties)} counties have no populated cells (e.g. {', '.join(names)}); "
            "the raster may not cover them, or the counties input selects more than the data covers"
        )
    if census is not None:
        table = (
            census
            if isinstance(census, pd.DataFrame)
            else read_census(census, census_code_field, census_population_field, census_name_field)
        )
        rescale_to_census(pop, counties, table, source=str(census) if not isinstance(census, pd.DataFrame) else "")
    for w in pop.warnings:
        log.warning(w)
    return pop


def _check_overlap(cproj, src, path) -> None:
    w, s, e, n = cproj.total_bounds
    b = src.bounds
    if not shapely.box(w, s, e, n).intersects(shapely.box(b.left, b.bottom, b.right, b.top)):
        raise _no_overlap(path, src, cproj)


def _no_overlap(path, src, cproj) -> InputError:
    b = src.bounds
    w, s, e, n = cproj.total_bounds
    return InputError(
        f"the raster does not overlap any county: raster bounds ({b.left:.4f}, {b.bottom:.4f}, {b.right:.4f}, "
        f"{b.top:.4f}) vs counties ({w:.4f}, {s:.4f}, {e:.4f}, {n:.4f}) in {src.crs or 'the given CRS'}. "
        "Use a raster that covers the study area, or check its CRS",
        path=path,
    )


def read_census(
    path: str | Path, code_field: str = "CODE", population_field: str = "POPU", name_field: str | None = "NAME"
) -> pd.DataFrame:
    """A census CSV (adcode, population; UTF-8 with or without BOM, or GBK; ``.gz`` fine).

    Returns columns ``county_code`` (6-digit string), ``county_name``, ``population`` (float, NaN when
    the cell is empty or not a number) and ``line`` (line number in the file).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("census file not found; check [inputs] census", path=path)
    df = None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc)
            break
        except UnicodeDecodeError:
            continue
    if df is None:
        raise InputError("cannot read as a UTF-8 or GBK CSV", path=path)
    df.columns = [c.strip() for c in df.columns]
    missing = [f for f in (code_field, population_field) if f not in df.columns]
    if missing:
        raise InputError(
            f"census column(s) {missing} not found (columns: {list(df.columns)}); set code_field / "
            "population_field in the study's census entry",
            path=path,
        )
    out = pd.DataFrame(
        {
            "county_code": df[code_field].str.strip(),
            "county_name": df[name_field].str.strip() if name_field and name_field in df.columns else "",
            "population": pd.to_numeric(df[population_field].str.strip().str.replace(",", ""), errors="coerce"),
            "line": np.arange(len(df)) + 2,
        }
    )
    return out


def rescale_to_census(pop: Population, counties, census: pd.DataFrame, source: str = "") -> CensusReport:
    """Scale cells so each county's sum equals its census total exactly, in whole people.

    Within a county, cells are scaled by ``total / raster sum`` and integerised with the largest-remainder
    method (floor every cell, then give one more person to the cells with the largest remainders until
    the total is met), so the sum matches to the person and no cell moves by a whole person or more.

    Census rows of the study's prefectures (same first four adcode digits) that match no county, such as
    development zones without a boundary (140171), and counties with no census row are reported in the
    returned :class:`CensusReport` (also ``pop.census``) and ``pop.warnings``, never silently dropped.
    """
    rep = CensusReport(source=source)
    codes = counties["county_code"].astype(str).tolist()
    names = counties["county_name"].astype(str).tolist()
    index = {c: i for i, c in enumerate(codes)}
    scope = {c[:4] for c in codes}
    target = np.full(len(codes), np.nan)
    for code, name, people, line in census[["county_code", "county_name", "population", "line"]].itertuples(
        index=False
    ):
        if code not in index:
            if code[:4] in scope:
                if np.isfinite(people):
                    rep.unmatched_census.append((code, name, float(people)))
                else:
                    rep.bad_rows.append(f"census line {line} ({code} {name}): empty or non-numeric population")
            else:
                rep.outside_scope += 1
            continue
        if not np.isfinite(people) or people < 0:
            rep.bad_rows.append(
                f"census line {line} ({code} {name}): empty or non-numeric population; "
                "the county keeps its raster values"
            )
            continue
        target[index[code]] = round(float(people))
    order = np.argsort(pop.county, kind="stable")
    bounds = np.searchsorted(pop.county[order], np.arange(len(codes) + 1))
    people = pop.people.copy()
    for i in range(len(codes)):
        cells = order[bounds[i] : bounds[i + 1]]
        if not np.isfinite(target[i]):
            rep.counties_without_census.append((codes[i], names[i]))
            continue
        have = float(people[cells].sum())
        if cells.size == 0 or have <= 0:
            rep.counties_without_people.append((codes[i], names[i], float(target[i])))
            continue
        people[cells] = largest_remainder(people[cells], int(target[i]))
        rep.matched += 1
        rep.census_people += float(target[i])
        rep.raster_people += have
    pop.people = people
    pop.census = rep
    pop.warnings.extend(rep.lines()[1:])
    return rep


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Whole numbers proportional to ``weights`` summing exactly to ``total``."""
    w = np.asarray(weights, dtype=np.float64)
    exact = w * (total / w.sum())
    base = np.floor(exact)
    short = int(total - base.sum())
    if short > 0:
        # ties break towards earlier cells, so results are deterministic
        top = np.argsort(-(exact - base), kind="stable")[:short]
        base[top] += 1.0
    elif short < 0:  # floating point put the floors above the total: take from the smallest remainders
        low = np.argsort(exact - base, kind="stable")
        low = low[base[low] > 0][:-short]
        base[low] -= 1.0
    return base
