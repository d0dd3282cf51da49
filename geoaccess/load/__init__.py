"""Reading every input format into GeoDataFrames, arrays and networks with a known CRS."""

from geoaccess.load.counties import builtin_counties, county_grid, read_counties

__all__ = ["builtin_counties", "county_grid", "read_counties"]
