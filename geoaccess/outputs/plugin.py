"""The bundle's own map behaviour as one folium plugin, and the folium pages built with it.

Every map page of a bundle (overview, tier maps, what-if and placement maps) is a :class:`folium.Map` that
folium renders and saves. Leaflet is the vendored copy in ``static/leaflet`` and everything geoaccess adds
(layers, click popups that explain, short tooltips, facility symbols and search, legend, county names, the
overview's colouring switch) is :class:`Geoaccess`: a ``MacroElement`` whose script and style are shipped
files (``static/geoaccess/map.js``, ``geoaccess.css``) and whose data is one JSON block.

Two ways to carry the assets:

- a bundle page links them relatively from the bundle's ``lib/`` folder (copied there by
  :func:`geoaccess.outputs._html.install_lib`), so no page asks the network for anything;
- a notebook map (``inline=True``) carries them inside the HTML, with its data, so it renders in Jupyter's
  sandboxed frame with no files beside it.

One escaping rule for every page: strings in the data are plain text; the JSON has ``<`` and ``>`` (and the
two JavaScript line separators) written as escapes, so no value can end the script element, and ``map.js``
inserts text only as text (``textContent``, or ``esc()`` where Leaflet takes HTML). What Python writes as
HTML itself (title, navigation, the synthetic label) is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from geoaccess.outputs._html import (
    DATA_ID,
    LEAFLET_CSS,
    LEAFLET_JS,
    LIB,
    PLUGIN_CSS,
    PLUGIN_JS,
    STATIC,
    e,
    json_for_script,
)


def _inline_js(rel: str) -> str:
    # "</" would end the script element early; "<\/" means the same inside JavaScript strings and regexes
    return "<script>" + (STATIC / rel).read_text(encoding="utf-8").replace("</", "<\\/") + "</script>"


def _inline_css(rel: str) -> str:
    return "<style>" + (STATIC / rel).read_text(encoding="utf-8").replace("</", "<\\/") + "</style>"


class Page(Figure):
    """folium's figure with the page's language, title and body class (for geoaccess.css's layout)."""

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="{{ this.lang }}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        "<title>{{ this.page_title }}</title>\n"
        "{{ this.header.render(**kwargs) }}\n"
        "</head>\n"
        '<body class="ga-map-page">\n'
        "{{ this.html.render(**kwargs) }}\n"
        "<script>\n"
        "{{ this.script.render(**kwargs) }}\n"
        "</script>\n"
        "</body>\n"
        "</html>\n"
    )

    def __init__(self, lang: str, title: str, **kwargs):
        super().__init__(**kwargs)
        self.lang = "zh-CN" if lang == "zh" else "en"
        self.page_title = e(title)  # escaped here: the template does not escape


class Geoaccess(JSCSSMixin, MacroElement):
    """geoaccess's map behaviour, fed one page's data (see ``static/geoaccess/map.js``).

    Parameters
    ----------
    data
        The page's data (plain text strings; see the module's escaping rule).
    inline
        Carry Leaflet, the plugin's script and style, and ``scripts`` inside the page (notebooks) rather
        than link them from ``lib/``.
    scripts
        Further scripts the page needs before the plugin runs: ``(relative src, inline text)`` pairs, e.g.
        the bundle's shared facilities file.
    lib
        The folder of the shipped files, relative to the page (a period's bundle links its parent's).
    """

    default_js = [("geoaccess_js", f"{LIB}/{PLUGIN_JS}")]
    default_css = [("geoaccess_css", f"{LIB}/{PLUGIN_CSS}")]
    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <script type="application/json" id="{{ this.data_id }}">{{ this.json }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        geoaccess.render({{ this._parent.get_name() }},
            JSON.parse(document.getElementById({{ this.data_id|tojson }}).textContent));
        {% endmacro %}
        """
    )

    def __init__(self, data: dict, *, inline: bool = False, scripts: tuple[tuple[str, str], ...] = (), lib: str = LIB):
        super().__init__()
        self._name = "Geoaccess"
        self.json = json_for_script(data)
        self.data_id = DATA_ID
        self.inline = inline
        self.scripts = scripts
        if inline:
            self.default_js, self.default_css = [], []
        elif lib != LIB:
            self.default_js = [("geoaccess_js", f"{lib}/{PLUGIN_JS}")]
            self.default_css = [("geoaccess_css", f"{lib}/{PLUGIN_CSS}")]

    def render(self, **kwargs):
        figure = self.get_root()
        if self.inline:
            figure.header.add_child(Element(_inline_css(LEAFLET_CSS)), name="leaflet_css")
            figure.header.add_child(Element(_inline_css(PLUGIN_CSS)), name="geoaccess_css")
            figure.header.add_child(Element(_inline_js(LEAFLET_JS)), name="leaflet")
            figure.header.add_child(Element(_inline_js(PLUGIN_JS)), name="geoaccess_js")
        for k, (src, text) in enumerate(self.scripts):
            if self.inline:
                body = text.replace("</", "<\\/")
                figure.header.add_child(Element(f"<script>{body}</script>"), name=f"geoaccess_data_{k}")
            else:
                figure.header.add_child(Element(f'<script src="{e(src)}"></script>'), name=f"geoaccess_data_{k}")
        super().render(**kwargs)


def folium_map(
    data: dict, *, lang: str, title: str, header: str = "", inline: bool = False, scripts=(), lib: str = LIB
) -> folium.Map:
    """A folium map of one page: Leaflet from ``lib/`` (or inline), no tiles of folium's, the plugin fed ``data``.

    ``header`` is HTML (already escaped) shown above the map: navigation, title, the synthetic label. ``lib`` is
    the shipped files' folder relative to the page (``../../lib`` in a period's bundle).
    """
    (s, w), (n, east) = data["bounds"]
    m = folium.Map(
        location=[(s + n) / 2, (w + east) / 2],
        zoom_start=9,
        tiles=None,
        control_scale=False,
        zoom_snap=0.25,
        # no tile fade: with it, Leaflet can leave a coarser level of the (mostly transparent) surface tiles
        # showing through the finer one until the map next moves
        fade_animation=False,
    )
    # a fixed element id (folium draws a random one), so a page written twice from the same data is the same
    # file; a notebook shows each map in a frame of its own, where the id cannot clash
    m._id = "geoaccess"
    m.default_js = [] if inline else [("leaflet", f"{lib}/{LEAFLET_JS}")]
    m.default_css = [] if inline else [("leaflet_css", f"{lib}/{LEAFLET_CSS}")]
    page = Page(lang, title)
    page.add_child(m)
    if header:
        page.html.add_child(Element(header), name="geoaccess_header")
    Geoaccess(data, inline=inline, scripts=tuple(scripts), lib=lib).add_to(m)
    return m
