"""geoaccess: who lives beyond reach of each tier of care, and what a new facility would change."""

from geoaccess.errors import ConfigError, GeoaccessError, InputError
from geoaccess.load.roads import read_roads
from geoaccess.network import Network
from geoaccess.study import Study

__all__ = ["ConfigError", "GeoaccessError", "InputError", "Network", "Study", "read_roads"]
__version__ = "0.1.0"
