"""SYNTHETIC observed trips on the demo, for ``geoaccess calibrate`` (README "Time of day and calibrated speeds").

Trips run from population cells (weighted by people) to facilities on the demo network with known class speed
factors (a second set, 0.7 times those, for the ``peak`` period), with multiplicative noise and a share of
outliers, written in GCJ-02 as web-map samples are::

    python bench/calibrate_demo.py /tmp/observed.csv [--trips 600] [--noise 0.08] [--outliers 0.05]
    geoaccess calibrate data/studies/demo.toml --trips /tmp/observed.csv --crs gcj02 --holdout 0.25
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from geoaccess import calibrate as cal
from geoaccess import coords
from geoaccess.periods import scale_network
from geoaccess.study import Study

TRUTH = {"motorway": 0.8, "trunk": 0.75, "primary": 0.7, "secondary": 0.85, "tertiary": 0.9, "residential": 0.8,
         "unclassified": 1.1}  # fmt: skip
PEAK = 0.7


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--study", default="data/studies/demo.toml")
    p.add_argument("--trips", type=int, default=600)
    p.add_argument("--noise", type=float, default=0.08, help="log-normal sigma of the noise")
    p.add_argument("--outliers", type=float, default=0.05, help="share of trips 1.5-3 times too slow")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    study = Study.from_file(a.study)
    inp = study.load()
    rng = np.random.default_rng(a.seed)
    pop, fac, k = inp.population, inp.facilities, a.trips
    i = rng.choice(len(pop.lon), k, p=pop.people / pop.people.sum())
    j = rng.integers(0, len(fac), k)
    trips = pd.DataFrame({"origin_lon": pop.lon[i] + rng.uniform(-4e-4, 4e-4, k),
                          "origin_lat": pop.lat[i] + rng.uniform(-4e-4, 4e-4, k),
                          "destination_lon": fac.geometry.x.to_numpy()[j],
                          "destination_lat": fac.geometry.y.to_numpy()[j]})  # fmt: skip
    period = np.where(rng.random(k) < 0.3, "peak", "")
    minutes = np.empty(k)
    for name, factors in (("", TRUTH), ("peak", {c: PEAK * f for c, f in TRUTH.items()})):
        sel = period == name
        net = scale_network(inp.network, factors)
        minutes[sel] = cal.route_trips(net, trips[sel].reset_index(drop=True), walk_kmh=study.settings.walk_kmh)
    minutes *= np.exp(rng.normal(0, a.noise, k))
    out = rng.random(k) < a.outliers
    minutes[out] *= rng.uniform(1.5, 3.0, out.sum())
    o = coords.wgs84_to_gcj02(trips["origin_lon"], trips["origin_lat"])
    d = coords.wgs84_to_gcj02(trips["destination_lon"], trips["destination_lat"])
    pd.DataFrame({"origin_lon": o[0], "origin_lat": o[1], "destination_lon": d[0], "destination_lat": d[1],
                  "minutes": np.round(minutes, 2), "period": period}).to_csv(a.out, index=False)  # fmt: skip
    print(f"wrote {k} SYNTHETIC trips to {a.out}; true factors {TRUTH}, peak {PEAK} times those")


if __name__ == "__main__":
    main()
