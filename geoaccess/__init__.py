"""geoaccess: who lives beyond reach of each tier of care, and what a new facility would change."""

from geoaccess import coords
from geoaccess.errors import ConfigError, GeoaccessError, InputError
from geoaccess.load.counties import builtin_counties, read_counties
from geoaccess.load.facilities import read_facilities
from geoaccess.load.population import read_population
from geoaccess.load.roads import read_roads
from geoaccess.network import Network
from geoaccess.placement import place
from geoaccess.scenarios import Baseline, load_scenario, whatif
from geoaccess.study import Study

__all__ = [
    "Baseline",
    "ConfigError",
    "GeoaccessError",
    "InputError",
    "Network",
    "Study",
    "builtin_counties",
    "coords",
    "load_scenario",
    "place",
    "read_counties",
    "read_facilities",
    "read_population",
    "read_roads",
    "whatif",
]
__version__ = "0.1.0"
