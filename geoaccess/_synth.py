"""Helpers shared by the synthetic-data generators (:mod:`geoaccess.demo`, :mod:`geoaccess.regions`).

Atomic file writes, the OSM PBF and GeoTIFF writers, synthetic Chinese place names and the mark that
labels every generated name. Both generators promise byte-identical files for the same seed, so
nothing written here depends on the clock or the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

#: Appended to every generated facility / road name, so no synthetic name passes for a real one.
MARK = "（示例）"
NAME_A = list("东西南北上下前后大小新古高白红青黄石柳杨槐桃杏枣梨马牛龙凤王李张刘赵郭韩孟安宁永兴和丰泉河沙水阳")
NAME_B = list("峪沟庄堡寨坪营头口塔湾滩台岭家河泉窑坡店")


def tmp_path(path: Path) -> Path:
    """Temporary sibling of ``path`` for an atomic write."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def replace(tmp: Path, path: Path) -> None:
    """Move ``tmp`` over ``path`` (atomic on one file system); never leave ``tmp`` behind."""
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically, with the newlines given."""
    tmp = tmp_path(path)
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    replace(tmp, path)


def unique_names(rng, n: int, suffixes, taken: set[str]) -> list[str]:
    """n unique synthetic Chinese place names (two characters plus a suffix, three when crowded)."""
    out = []
    while len(out) < n:
        for attempt in range(40):
            chars = [NAME_A[rng.integers(len(NAME_A))], NAME_B[rng.integers(len(NAME_B))]]
            if attempt >= 20:  # the two-character space is filling up: add a middle character
                chars.insert(1, NAME_A[rng.integers(len(NAME_A))])
            name = "".join(chars) + suffixes[rng.integers(len(suffixes))]
            if name not in taken:
                break
        taken.add(name)
        out.append(name)
    return out


def write_pbf(path: Path, lon, lat, ways: Iterable[tuple[np.ndarray, dict[str, str]]], generator: str) -> None:
    """Write nodes (ids 1..n, lon/lat rounded to 1e-7) and ways (0-based node refs plus tags) as an OSM PBF.

    No per-object metadata is written: nothing time-dependent, so the same input gives the same bytes.
    """
    import osmium
    from osmium.osm.mutable import Node, Way

    lon, lat = np.round(np.asarray(lon, float), 7), np.round(np.asarray(lat, float), 7)
    tmp = tmp_path(path)
    header = osmium.io.Header()
    header.set("generator", generator)
    header.add_box(osmium.osm.Box(float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())))
    try:
        writer = osmium.SimpleWriter(osmium.io.File(str(tmp), "pbf,add_metadata=false"), header=header)
        try:
            # a million nodes at a time: Python floats for every node of a country would take gigabytes
            for c0 in range(0, lon.size, 1 << 20):
                chunk = zip(lon[c0 : c0 + (1 << 20)].tolist(), lat[c0 : c0 + (1 << 20)].tolist(), strict=True)
                for i, (a, b) in enumerate(chunk, start=c0 + 1):
                    writer.add_node(Node(id=i, location=(a, b)))
            for j, (refs, tags) in enumerate(ways, start=1):
                writer.add_way(Way(id=j, nodes=(refs + 1).tolist(), tags=tags))
        finally:
            writer.close()
        replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_raster(
    path: Path,
    data,
    *,
    shape: tuple[int, int],
    transform,
    tags: dict[str, str],
    description: str,
    dtype: str = "float32",
    nodata: float | None = None,
) -> None:
    """Write a one-band EPSG:4326 GeoTIFF (256 x 256 deflate tiles) atomically.

    ``data`` is the whole array, or an iterable of ``(row0, strip)`` pairs written as windows in turn,
    so a province-sized grid never has to exist in memory at once.
    """
    import rasterio
    from rasterio.windows import Window

    tmp = tmp_path(path)
    profile = {
        "driver": "GTiff",
        "height": shape[0],
        "width": shape[1],
        "count": 1,
        "dtype": dtype,
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3 if dtype.startswith("float") else 2,
    }
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            if isinstance(data, np.ndarray):
                dst.write(data, 1)
            else:
                for row0, strip in data:
                    dst.write(strip, 1, window=Window(0, row0, shape[1], strip.shape[0]))
            dst.update_tags(**tags)
            dst.set_band_description(1, description)
        replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_rivers(path: Path, lines: list[tuple[str, list[tuple[float, float]]]], note: str) -> None:
    """Rivers as a GeoJSON line layer (WGS84) written atomically: ``(name, [(lon, lat), ...])`` per river.

    Plain JSON with rounded coordinates, so the same lines give the same bytes on every machine.
    """
    import json

    features = [
        {
            "type": "Feature",
            "properties": {"name": name, "waterway": "river", "synthetic": "yes"},
            "geometry": {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for x, y in line]},
        }
        for name, line in lines
    ]
    doc = {"type": "FeatureCollection", "name": "rivers", "description": note, "features": features}
    write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


class NamePool:
    """Unique synthetic place names drawn without retries: a shuffled list of every two-character name,
    then every three-character one (same characters as :func:`unique_names`), per suffix.

    :func:`unique_names` retries random draws and slows down as names run out (10 s for Shanxi's
    18,000 villages); this costs one permutation per suffix. Beyond the 49,392 names of a suffix a
    number is appended.
    """

    def __init__(self, rng):
        self.rng = rng
        self.order: dict[str, np.ndarray] = {}
        self.used: dict[str, int] = {}

    def take(self, n: int, suffix: str) -> list[str]:
        if suffix not in self.order:
            a, b = len(NAME_A), len(NAME_B)
            self.order[suffix] = np.concatenate([self.rng.permutation(a * b), a * b + self.rng.permutation(a * a * b)])
            self.used[suffix] = 0
        order, start = self.order[suffix], self.used[suffix]
        self.used[suffix] = start + n
        out = []
        a, b = len(NAME_A), len(NAME_B)
        for k in range(start, start + n):
            code = int(order[k % order.size])
            if code < a * b:
                name = NAME_A[code // b] + NAME_B[code % b]
            else:
                code -= a * b
                name = NAME_A[code // (a * b)] + NAME_A[(code // b) % a] + NAME_B[code % b]
            out.append(name + suffix if k < order.size else f"{name}{k // order.size + 1}{suffix}")
        return out


def grid_pieces(mask: np.ndarray, h_ok: np.ndarray, v_ok: np.ndarray) -> np.ndarray:
    """Connected pieces of a street grid: a label per grid point, joining neighbours whose street is kept
    (``h_ok``: to the next column, ``v_ok``: to the next row); ``mask`` gives the grid's shape."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    lin = np.arange(mask.size).reshape(mask.shape)
    src = np.concatenate([lin[:, :-1][h_ok], lin[:-1, :][v_ok]])
    dst = np.concatenate([lin[:, 1:][h_ok], lin[1:, :][v_ok]])
    g = coo_matrix((np.ones(src.size), (src, dst)), shape=(mask.size, mask.size))
    _, labels = connected_components(g, directed=False)
    return labels.reshape(mask.shape)
