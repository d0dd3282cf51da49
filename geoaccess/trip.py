"""The door-to-door trip: walk to the road, drive, walk from the road — one home for every measure.

A trip between a demand point (a population cell) and a facility has three legs: the walk between the point
and the nearest link (at ``walk_kmh``), the drive along the network, and the walk between the facility's link
and its door. Both ends sit part way along a link (a :class:`~geoaccess.network.Snap`), so the drive starts
with the part of the link up to one of its ends, and a point on the facility's own link may drive straight
along it without passing a node (the same-link shortcut).

Nearest minutes, OD pairs, scenarios, placement and referral times are all built from :class:`Trip`, so the
legs are added in the same order everywhere and results agree to the last bit.

Off-road travel (``[travel]``, :mod:`geoaccess.terrain`): with a :class:`~geoaccess.terrain.Surface` and
``mode="mixed"`` the demand end's straight walk is replaced by a walk over the friction surface (land cover,
slope, barriers) to any point where a road meets the grid, or straight to the facility's cell: the nearest
facility is a search over the joined cell + road graph, seeded at the road points with their door-to-door road
minutes. ``mode="walk_only"`` walks over the surface all the way (roads are walkable cells). ``mode="road"`` is
the trip above, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoaccess.network import WALK_KMH, Network, Snap

__all__ = ["Trip"]


def part(frac: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """Minutes to drive ``frac`` of a link; a point sitting on the end drives nothing, even on a one-way link
    (``0 * inf`` would be NaN)."""
    with np.errstate(invalid="ignore"):
        return np.where(frac > 0, frac * minutes, 0.0)


@dataclass(frozen=True)
class Trip:
    """Door-to-door travel on ``net``: patients travel to facilities (``to_facility``) or from them.

    ``to_facility=True`` searches the reversed graph from the facilities, so one-way streets count the way the
    patient drives.
    """

    net: Network
    walk_kmh: float = WALK_KMH
    to_facility: bool = True
    surface: object = None  # a geoaccess.terrain.Surface, for mode "mixed" / "walk_only"
    mode: str = "road"

    @property
    def reverse(self) -> bool:
        """Whether searches from facilities run on the reversed graph."""
        return self.to_facility

    def walk_minutes(self, snap: Snap) -> np.ndarray:
        """Minutes of the walking leg between each snapped point and its link."""
        return snap.offroad_m / (self.walk_kmh * 1000.0 / 60.0)

    # -- the facility end ----------------------------------------------------------------------------
    def seeds(self, snap: Snap):
        """Start nodes and minutes of a search from facilities sitting on links.

        Each facility seeds both ends of its link it can be reached from (``to_facility``) or can reach.
        Returns ``(nodes, minutes, labels)`` where ``labels`` is the facility's position in ``snap``.
        """
        net = self.net
        walk = self.walk_minutes(snap)
        fwd, bwd = net.link_fwd[snap.link], net.link_bwd[snap.link]
        u, v, t = net.link_u[snap.link], net.link_v[snap.link], snap.t
        lab = np.arange(len(snap), dtype=np.int32)
        if self.to_facility:  # reach the facility: from u along u->v, from v along v->u
            to_u = walk + part(t, fwd)
            to_v = walk + part(1 - t, bwd)
        else:  # leave the facility: to v along u->v, to u along v->u
            to_v = walk + part(1 - t, fwd)
            to_u = walk + part(t, bwd)
        nodes = np.concatenate([u, v])
        minutes = np.concatenate([to_u, to_v])
        labels = np.concatenate([lab, lab])
        ok = np.isfinite(minutes)
        return nodes[ok], minutes[ok], labels[ok]

    # -- the demand end ------------------------------------------------------------------------------
    def legs(self, snap: Snap):
        """Per point, the drive from it to each end of its link (``to_facility``; the reverse otherwise).

        Returns ``(u, part_u, v, part_v)``: a point's minutes are ``min(part_u + node[u], part_v + node[v]) +
        walk`` (inf where a one-way link forbids that end).
        """
        net = self.net
        fwd, bwd = net.link_fwd[snap.link], net.link_bwd[snap.link]
        u, v, t = net.link_u[snap.link], net.link_v[snap.link], snap.t
        if self.to_facility:
            return u, part(t, bwd), v, part(1 - t, fwd)
        return u, part(t, fwd), v, part(1 - t, bwd)

    def point_minutes(self, node_minutes: np.ndarray, snap: Snap, node_label: np.ndarray | None = None):
        """Door-to-door minutes of snapped points given minutes at nodes (from :meth:`search`).

        Returns minutes (and the label of the end used, if ``node_label`` is given; -1 where unreachable).
        """
        u, pu, v, pv = self.legs(snap)
        via_u = pu + node_minutes[u]
        via_v = pv + node_minutes[v]
        with np.errstate(invalid="ignore"):
            best_v = via_v < via_u
        best = np.where(best_v, via_v, via_u) + self.walk_minutes(snap)
        if node_label is None:
            return best
        lab = np.where(best_v, node_label[v], node_label[u])
        return best, np.where(np.isfinite(best), lab, -1)

    def same_link(self, fsnap: Snap, dsnap: Snap, minutes: np.ndarray, lab: np.ndarray):
        """Direct trips along a shared link, which never pass through a node: improved minutes and labels."""
        net = self.net
        f_order = np.argsort(fsnap.link, kind="stable")
        f_links = fsnap.link[f_order]
        lo = np.searchsorted(f_links, dsnap.link, side="left")
        hi = np.searchsorted(f_links, dsnap.link, side="right")
        cand = np.flatnonzero(hi > lo)
        if cand.size == 0:
            return minutes, lab
        from geoaccess import _kernels

        minutes = np.array(minutes, dtype=np.float64)
        lab = np.array(lab, dtype=np.int64)
        _kernels.same_link(
            cand, lo, hi, f_order, dsnap.link, dsnap.t, dsnap.offroad_m, fsnap.t, fsnap.offroad_m, net.link_fwd,
            net.link_bwd, self.walk_kmh * 1000.0 / 60.0, self.to_facility, minutes, lab,
        )  # fmt: skip
        return minutes, lab

    def direct(self, osnap: Snap, dsnap: Snap) -> np.ndarray:
        """Door-to-door minutes of each pair ``osnap[i]`` -> ``dsnap[i]`` driven straight along their shared link
        (inf where the links differ or one-way forbids it): the same-link shortcut, pair by pair."""
        from geoaccess import _kernels

        n = len(osnap)
        minutes = np.full(n, np.inf)
        lab = np.full(n, -1, dtype=np.int64)
        cand = np.flatnonzero(osnap.link == dsnap.link)
        if cand.size == 0:
            return minutes
        first = np.arange(n, dtype=np.int64)
        # facility end = the destination: the kernel turns the legs around when patients travel from facilities
        _kernels.same_link(
            cand, first, first + 1, first, osnap.link, osnap.t, osnap.offroad_m, dsnap.t, dsnap.offroad_m,
            self.net.link_fwd, self.net.link_bwd, self.walk_kmh * 1000.0 / 60.0, True, minutes, lab,
        )  # fmt: skip
        return minutes

    # -- OD pairs ------------------------------------------------------------------------------------
    def point_index(self, dsnap: Snap):
        """The demand points arranged for :meth:`pairs` (built once per demand snap and reused)."""
        from geoaccess import paths

        u, pu, v, pv = self.legs(dsnap)
        return paths.PointIndex.build(
            self.net, u, pu, v, pv, self.walk_minutes(dsnap), dsnap.link, dsnap.t, dsnap.offroad_m
        )

    def terrain_index(self, dcells: np.ndarray):
        """The demand points at grid cells ``dcells`` arranged for :meth:`pairs` of an off-road mode (built once)."""
        from geoaccess.terrain_pairs import TerrainIndex

        return TerrainIndex.build(self, dcells)

    def pairs(self, fsnap: Snap, index, cutoffs: np.ndarray, buffer_mb: float = 256.0, dest=None, fcells=None):
        """Door-to-door pairs of each facility in ``fsnap`` with the demand points of ``index`` (from
        :meth:`point_index`) within its cutoff (negative: none), as :class:`geoaccess.paths.Pairs`; ``dest`` (an OD
        pool) receives them in its own buffer (see :func:`geoaccess.paths.door_pairs`).

        Off-road modes (``index`` from :meth:`terrain_index`) need the facilities' grid cells ``fcells``: the pairs
        are then the trips of :meth:`terrain_minutes`, facility by facility (:mod:`geoaccess.terrain_pairs`).
        """
        from geoaccess import paths

        if self.mode != "road":
            from geoaccess import terrain_pairs

            if self.surface is None or fcells is None:
                raise ValueError(f"mode {self.mode!r} pairs need a terrain surface and the facilities' grid cells")
            return terrain_pairs.door_pairs(self, index, fsnap, fcells, cutoffs, dest=dest, buffer_mb=buffer_mb)

        nodes, start, labels = self.seeds(fsnap)
        return paths.door_pairs(
            self.net, index, nodes, start, labels, cutoffs, fsnap.link, fsnap.t, fsnap.offroad_m,
            self.walk_kmh * 1000.0 / 60.0, self.reverse, buffer_mb=buffer_mb, dest=dest,
        )  # fmt: skip

    # -- whole trips ---------------------------------------------------------------------------------
    def search(self, fsnap: Snap, cutoff: float | None = None):
        """Per node, minutes to (or from) the nearest facility in ``fsnap`` and its position (-1)."""
        from geoaccess import paths

        nodes, start, labels = self.seeds(fsnap)
        if nodes.size == 0:
            return np.full(self.net.n_nodes, np.inf), np.full(self.net.n_nodes, -1, dtype=np.int32)
        return paths.seeded(self.net, nodes, start, labels, cutoff=cutoff, reverse=self.reverse)

    def nearest(
        self, fsnap: Snap, dsnap: Snap, cutoff: float | None = None, fcells=None, dcells=None, sample=None,
        sweep_to: float | None = None,
    ):  # fmt: skip
        """Door-to-door minutes from every demand point to its nearest facility in ``fsnap``.

        Returns ``(minutes, facility, node_minutes, node_facility)``; facility positions index ``fsnap``, -1 = none.
        Off-road modes need the grid cells of the facilities (``fcells``) and of the demand points (``dcells``);
        ``cutoff`` then bounds the road search only. ``sample`` and ``sweep_to`` (off-road modes): see
        :meth:`terrain_minutes`; with ``sample`` a fifth item is returned, the sample's ``(minutes, facility)``.
        """
        node_min, node_lab = self.search(fsnap, cutoff)
        if self.mode != "road":
            out = self.terrain_minutes(fsnap, node_min, node_lab, fcells, dcells, sample=sample, sweep_to=sweep_to)
            return (*out[:2], node_min, node_lab, *out[2:])
        minutes, lab = self.point_minutes(node_min, dsnap, node_label=node_lab)
        minutes, lab = self.same_link(fsnap, dsnap, minutes, lab)
        return minutes, lab, node_min, node_lab

    def terrain_minutes(
        self, fsnap: Snap, node_min, node_lab, fcells, dcells, sample=None, sweep_to: float | None = None
    ):
        """Minutes and facility of each demand cell over the friction surface (``mixed`` or ``walk_only``).

        Seeds: each facility's cell at 0 minutes (the walk within the cell to the door is not counted), and in
        ``mixed`` every road point at its door-to-door road minutes (the walk from its cell's centre, the drive,
        the walk to the door), so one search over the cells finds the best of walking on and entering the road
        anywhere. The search runs towards the seeds when patients travel to facilities (uphill != downhill).

        ``sample`` (flat grid cells, e.g. the centres of the service areas' pixels) also reads the search at those
        cells, as :meth:`~geoaccess.terrain.Surface.at` reads demand cells, before its grids are let go; the search
        then also sweeps ``sweep_to`` minutes (a tier's largest band). A sampled cell keeps its minutes and facility
        where they are final, within the sweep (inf and -1 beyond). Returns ``(minutes, facility)`` of the demand
        cells, and with ``sample`` a third item, the sample's ``(minutes, facility)``.
        """
        sf = self.surface
        if sf is None or fcells is None or dcells is None:
            raise ValueError(f"mode {self.mode!r} needs a terrain surface and the cells of facilities and demand")
        fcells = np.asarray(fcells, dtype=np.int64)
        cells, start, labels = [fcells], [np.zeros(len(fcells))], [np.arange(len(fcells))]
        if self.mode == "mixed":
            m, lab = self.point_minutes(node_min, sf.road_snap, node_label=node_lab)
            m, lab = self.same_link(fsnap, sf.road_snap, m, lab)
            cells.append(sf.road_cell)
            start.append(m)
            labels.append(lab)
        # the search stops once every demand cell is final (a 15-minute tier need not sweep the whole grid)
        dist, label = sf.minutes(
            np.concatenate(cells), np.concatenate(start), np.concatenate(labels), self.to_facility, sf.targets(dcells),
            sweep_to=None if sample is None else sweep_to,
        )  # fmt: skip
        minutes, lab = sf.at(dist, label, dcells)
        if sample is None:
            sf.buffers.give(dist, label)
            return minutes, lab
        # final: every cell within the sweep. Not beyond it, even short of the farthest demand cell: the search
        # may end goal-directed towards its last targets (terrain.search), which leaves cells off their way unsettled
        s_min, s_lab = sf.at(dist, label, sample)
        sf.buffers.give(dist, label)
        del dist, label
        beyond = ~(s_min <= float(sweep_to or 0.0))
        s_min[beyond] = np.inf
        s_lab[beyond] = -1
        return minutes, lab, (s_min, s_lab)
