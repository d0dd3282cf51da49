"""Plain helpers every page writer shares, without folium: escaping, safe JSON, the bundle's ``lib/``.

Kept apart from :mod:`geoaccess.outputs.plugin` so that importing geoaccess does not import folium (about half a
second); folium is imported when a map is built.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

STATIC = Path(__file__).parent / "static"
LIB = "lib"  # the bundle's folder for shipped JavaScript, CSS and images
SHIPPED = ("leaflet", "geoaccess")  # folders of ``static/`` copied into every bundle
LEAFLET_JS = "leaflet/leaflet.js"
LEAFLET_CSS = "leaflet/leaflet.css"
PLUGIN_JS = "geoaccess/map.js"
PLUGIN_CSS = "geoaccess/geoaccess.css"
DATA_ID = "geoaccess-data"


def e(text) -> str:
    """Escape text for HTML that Python writes itself."""
    return html.escape(str(text), quote=True)


def json_for_script(data) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>`` or line separators in it."""
    s = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def install_lib(out_dir: str | Path) -> Path:
    """Copy the shipped Leaflet and geoaccess files into the bundle, so maps need no internet."""
    dst = Path(out_dir) / LIB
    for name in SHIPPED:
        shutil.copytree(STATIC / name, dst / name, dirs_exist_ok=True)
    shutil.copyfile(STATIC / "SOURCE.txt", dst / "SOURCE.txt")  # versions, licences and hashes of what is here
    return dst
