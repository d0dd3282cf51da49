"""Speed factors per road class: time-of-day periods (``[travel.periods.<name>]``) and calibrated speeds.

A factor multiplies the speed of every link of a road class (0.7 = 30 % slower), so a link's minutes are divided
by it. Ramps (``motorway_link``, ``trunk_link`` …) follow their road's factor unless the table names them. The
network's topology, geometry and link order stay as they are, so points snapped onto the baseline network are
snapped onto the scaled one too.
"""

from __future__ import annotations

import logging

import numpy as np

from geoaccess.errors import InputError
from geoaccess.network import Network

log = logging.getLogger(__name__)

__all__ = ["class_codes", "class_factor", "road_factors", "scale_network"]


def class_codes(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The road classes of a network's links: ``(names, code per link)``; one class ``""`` when it has none."""
    if net.link_class is None:
        return np.array([""], dtype=object), np.zeros(net.n_links, dtype=np.int64)
    names, codes = np.unique(np.asarray(net.link_class, dtype=str), return_inverse=True)
    return names.astype(object), codes.astype(np.int64)


def parent_class(name: str) -> str:
    """The road a ramp belongs to (``trunk_link`` -> ``trunk``); any other class is its own."""
    return name[: -len("_link")] if name.endswith("_link") else name


def class_factor(names, factors: dict[str, float]) -> np.ndarray:
    """Factor per class name: its own entry, else its road's (ramps), else 1."""
    out = np.ones(len(names))
    for i, n in enumerate(names):
        out[i] = factors.get(n, factors.get(parent_class(n), 1.0))
    return out


def road_factors(factors: dict[str, float]) -> dict[str, float]:
    """The road-class factors of a ``[travel.periods.<name>]`` table: land-cover class codes (``"40"``) are for
    off-road travel and leave the roads alone."""
    return {k: v for k, v in factors.items() if not str(k).isdigit()}


def scale_network(net: Network, factors: dict[str, float], what: str = "speed factors") -> Network:
    """A copy of ``net`` whose links of each class are driven at ``factor`` times their speed.

    Classes named in ``factors`` that the network does not have are logged (a table written for another road
    file, e.g. Chinese classes on an OSM network), not refused.
    """
    bad = {k: v for k, v in factors.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise InputError(f"{what}: factors must be positive numbers, got {bad}")
    names, codes = class_codes(net)
    unknown = sorted(set(factors) - set(names) - {parent_class(n) for n in names})
    if unknown:
        log.info("%s: the network has no road of class %s; those factors are not used", what, unknown)
    f = class_factor(names, factors)[codes]
    with np.errstate(invalid="ignore"):
        fwd = net.link_fwd / f
        bwd = net.link_bwd / f
    scaled = Network(
        net.n_nodes, net.link_u, net.link_v, fwd, bwd, x=net.x, y=net.y, geometry=net._geometry, crs=net.crs,
        node_ids=net.node_ids, link_class=net.link_class, link_coords=net._link_coords,
    )  # fmt: skip
    if hasattr(net, "report"):
        scaled.report = net.report
    return scaled
