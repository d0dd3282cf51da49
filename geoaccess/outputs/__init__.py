"""Outputs: the map bundle, tables and rasters, all written atomically."""
