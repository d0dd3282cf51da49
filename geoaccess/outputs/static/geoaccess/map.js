/* geoaccess folium plugin: the bundle's own map behaviour on a map folium made (geoaccess/outputs/plugin.py).
 *
 * geoaccess.render(map, data) adds the layers, popups, tooltips, search, legend and switches of one page
 * from its JSON data. One escaping rule: every string in the data is plain text (the JSON has "<" and ">"
 * written as \u003c / \u003e so no value can close a script element), and this file inserts text only as
 * text: with textContent, or through esc() where Leaflet wants HTML (tooltips, popups, layer names).
 * Plain ES5, so older browsers on closed networks run it; no network access.
 */
(function () {
  "use strict";

  function esc(s) {
    return String(s === undefined || s === null ? "" : s).replace(/&/g, "&amp;").replace(/</g, "&lt;")
      .replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function render(map, D) {
    var T = D.text || {};

    function symbol(style) {
      var s = style.size, h = s / 2, c = style.color, p;
      var stroke = ' stroke="#fff" stroke-width="1.5"';
      if (style.shape === "circle") p = '<circle cx="' + h + '" cy="' + h + '" r="' + (h - 1) + '" fill="' + c + '"' + stroke + "/>";
      else if (style.shape === "square") p = '<rect x="1" y="1" width="' + (s - 2) + '" height="' + (s - 2) + '" fill="' + c + '"' + stroke + "/>";
      else if (style.shape === "diamond") p = '<polygon points="' + h + ",1 " + (s - 1) + "," + h + " " + h + "," + (s - 1) + " 1," + h + '" fill="' + c + '"' + stroke + "/>";
      else if (style.shape === "triangle") p = '<polygon points="' + h + ",1 " + (s - 1) + "," + (s - 1) + " 1," + (s - 1) + '" fill="' + c + '"' + stroke + "/>";
      else p = '<polygon points="' + starPoints(h, h - 1, (h - 1) / 2.3) + '" fill="' + c + '"' + stroke + "/>";
      return '<svg xmlns="http://www.w3.org/2000/svg" width="' + s + '" height="' + s + '" viewBox="0 0 ' + s + " " + s + '">' + p + "</svg>";
    }

    function starPoints(c, r1, r2) {
      var pts = [];
      for (var i = 0; i < 10; i++) {
        var r = i % 2 ? r2 : r1, a = Math.PI / 5 * i - Math.PI / 2;
        pts.push((c + r * Math.cos(a)).toFixed(1) + "," + (c + r * Math.sin(a)).toFixed(1));
      }
      return pts.join(" ");
    }

    function rowsTable(rows) {
      var h = '<table class="ga-rows">';
      for (var i = 0; i < rows.length; i++) h += "<tr><th>" + esc(rows[i][0]) + "</th><td>" + esc(rows[i][1]) + "</td></tr>";
      return h + "</table>";
    }

    // no tile fade: with it, Leaflet can leave a coarser level of the (mostly transparent) surface tiles
    // showing through the finer one until the map next moves
    // folium made the map (zoomSnap 0.25, no fade: see plugin.py); fit it to the study area
    map.fitBounds(D.bounds, { padding: [10, 10], animate: false });
    var fitZoom = map.getZoom();
    map.attributionControl.setPrefix(false);
    // printing resizes the map box (A4 landscape, geoaccess.css): fit the whole area into it, then back
    var refit = function () { map.invalidateSize(false); map.fitBounds(D.bounds, printPadding(map)); };
    if (window.matchMedia) {
      var pm = window.matchMedia("print");
      if (pm.addListener) pm.addListener(function (m) { refit(); });
    }
    window.addEventListener("beforeprint", refit);
    window.addEventListener("afterprint", refit);
    var overlays = {};

    if (D.basemap) {
      L.tileLayer(D.basemap.url, { attribution: esc(D.basemap.attribution), maxZoom: 19 }).addTo(map);
    } else {
      map.getContainer().className += " ga-nobasemap";
    }

    addSurfaces(map, D, overlays);

    // at province scale (many counties) outlines are thinner and the bands other than the threshold's wait
    // for a closer zoom, so lines do not bury the map
    var many = D.counties && D.counties.geojson.features.length > 40;
    var counties = null, labels = [];
    if (D.counties) {
      var fill = D.counties.fill;
      var bindCounty = function (f, layer, group) {
        var p = f.properties;
        layer.options.gaName = p.name;
        layer.on("mouseover", function () { layer.setStyle({ weight: many ? 3 : 4 }); });
        // group() is the layer the county belongs to (not yet made while its features are bound)
        layer.on("mouseout", function () { group().resetStyle(layer); });
        var head = "<b>" + esc(p.name) + '</b> <span class="ga-code">' + esc(p.code) + "</span>";
        if (D.kind === "overview") {
          layer.bindTooltip("<b>" + esc(p.name) + "</b> · " + esc(p.zone), { sticky: true, className: "ga-tip" });
          layer.bindPopup(whyHtml(p), { maxWidth: 380, className: "ga-why" });
        } else if (D.kind === "compare") {
          layer.bindTooltip(head, { sticky: true, className: "ga-tip" });
        } else {
          layer.bindTooltip(head + rowsTable(p.tip || p.rows) + (p.tip ? '<div class="ga-hint">' + esc(T.details) + "</div>" : ""),
                            { sticky: true, className: "ga-tip" });
          if (p.tip) layer.on("click", function (e) {
            // a click on a canvas clinic opens the clinic's popup (the map's click handler), not the county's
            if (typeof hitCircle === "function" && hitCircle(e)) return;
            if (map.gaCatchmentAt && map.gaCatchmentAt(e) >= 0) return; // the catchment's popup (addCatchments)
            L.popup({ maxWidth: 360 }).setLatLng(e.latlng).setContent('<div class="ga-why-head">' + head + "</div>" +
              rowsTable(p.rows)).openOn(map);
          });
        }
      };
      // names above the facility symbols (a halo keeps both readable), never catching the mouse
      map.createPane("gaLabels").style.zIndex = 640;
      map.getPane("gaLabels").style.pointerEvents = "none";
      var weight = D.kind === "overview" || D.kind === "compare" ? 1.5 : 2.5;
      if (many) weight = weight * 0.6;
      counties = L.geoJSON(D.counties.geojson, {
        style: function (f) {
          var c = D.kind === "overview" || D.kind === "compare" ? "#444" : f.properties.color;
          return { color: c, weight: weight, fill: fill > 0, fillColor: f.properties.color, fillOpacity: fill };
        },
        onEachFeature: function (f, layer) {
          bindCounty(f, layer, function () { return counties; });
          // county names on every map, in a layer of their own (the layer control turns them off)
          var mk = L.marker(layer.getBounds().getCenter(), {
            icon: L.divIcon({ className: "ga-label", html: "<span>" + esc(f.properties.name) + "</span>", iconSize: null }),
            interactive: false, keyboard: false, pane: "gaLabels"
          });
          mk.gaBounds = layer.getBounds();
          labels.push(mk);
        }
      }).addTo(map);
      overlays[esc(D.counties.name)] = counties;
      if (D.counties.alt) {
        // the overview's other colouring (tiers failed): the same counties, the same explanations
        var alt = L.geoJSON(D.counties.geojson, {
          style: function (f) {
            return { color: "#444", weight: weight, fillColor: f.properties.color2, fillOpacity: 0.7 };
          },
          onEachFeature: function (f, layer) { bindCounty(f, layer, function () { return alt; }); }
        });
        overlays[esc(D.counties.alt.name)] = alt;
        // one colouring at a time (after the layer control has finished handling the click, or it re-adds it)
        map.on("overlayadd", function (e) {
          var other = e.layer === alt ? counties : e.layer === counties ? alt : null;
          if (other) setTimeout(function () { if (map.hasLayer(other)) map.removeLayer(other); }, 0);
        });
      }
      if (labels.length) {
        var labelLayer = L.layerGroup(labels).addTo(map);
        overlays[esc(T.names)] = labelLayer;
        // Names by zoom and collision: a county's name shows only where its outline is wide enough on screen
        // for it and it does not overlap a name already placed (larger counties first), so at province zoom
        // the map stays readable and names come in as one zooms closer.
        labels.sort(function (a, b) { return area(b.gaBounds) - area(a.gaBounds); });
        var declutter = function () {
          if (!map.hasLayer(labelLayer)) return;
          var placed = [];
          for (var i = 0; i < labels.length; i++) {
            var icon = labels[i]._icon;
            if (!icon) continue;
            var span = icon.firstChild;
            icon.style.visibility = "";
            var r = span.getBoundingClientRect(), b = labels[i].gaBounds;
            var sw = map.latLngToContainerPoint(b.getSouthWest()), ne = map.latLngToContainerPoint(b.getNorthEast());
            var ok = Math.abs(ne.x - sw.x) >= 0.6 * r.width && Math.abs(sw.y - ne.y) >= r.height;
            for (var k = 0; ok && k < placed.length; k++) {
              var q = placed[k];
              if (r.left < q.right + 4 && r.right > q.left - 4 && r.top < q.bottom + 2 && r.bottom > q.top - 2) ok = false;
            }
            if (ok) placed.push(r);
            else icon.style.visibility = "hidden";
          }
        };
        map.on("zoomend overlayadd", declutter);
        declutter();
      }
    }

    function area(b) {
      return (b.getNorth() - b.getSouth()) * (b.getEast() - b.getWest());
    }

    function whyHtml(p) {
      var h = '<div class="ga-why-head"><b>' + esc(p.name) + '</b> <span class="ga-code">' + esc(p.code) + "</span></div>" +
        '<div class="ga-zone" style="border-left:6px solid ' + esc(p.color) + '">' + esc(p.zone) + "</div>" +
        '<div class="ga-because">' + esc(p.because) + "</div><ul class=\"ga-decisive " + (p.ok ? "ga-ok" : "ga-bad") + '">';
      for (var k = 0; k < p.decisive.length; k++) h += "<li>" + esc(p.decisive[k]) + "</li>";
      h += '</ul><div class="ga-rule">' + esc(p.rule) + "</div><table class=\"ga-rows ga-tiers\">";
      for (var i = 0; i < p.why.length; i++) {
        var w = p.why[i];
        var name = w.href ? '<a href="' + esc(w.href) + '">' + esc(w.tier) + "</a>" : esc(w.tier);
        h += '<tr class="' + (w.ok ? "ga-ok" : "ga-bad") + '"><th>' + name + "</th><td>" + (w.ok ? "✓ " : "✗ ") + esc(w.status) +
          "</td><td>" + esc(w.text) + "</td></tr>";
      }
      h += "</table>" + rowsTable(p.rows);
      return h;
    }

    if (D.bands) {
      var bands = L.geoJSON(D.bands.geojson, {
        style: function (f) {
          // at province scale every band, the threshold's too, traces hundreds of villages: they come in
          // one zoom level closer (the travel-time colours already show the same at this scale)
          var p = f.properties, hide = many && map.getZoom() < fitZoom + 1;
          return { color: p.color, weight: p.main ? (many ? 2 : 3) : 1.5, dashArray: p.main ? null : "5 4", fill: false,
                   opacity: hide ? 0 : 0.9 };
        },
        onEachFeature: function (f, layer) { layer.bindTooltip(esc(f.properties.label), { sticky: true, className: "ga-tip" }); }
      }).addTo(map);
      overlays[esc(D.bands.name)] = bands;
      if (many) {
        map.on("zoomend", function () {
          bands.setStyle(bands.options.style);
          var hint = map.getContainer().querySelector(".ga-bands-hint");
          if (hint) hint.style.display = map.getZoom() < fitZoom + 1 ? "" : "none";
        });
      }
    }

    // compare pages (what-if and placement): the change in minutes per tier (green faster, red slower), the
    // edited roads and the changed facilities, in a pane above the counties so they can be hovered and clicked
    var changed = [];
    if (D.images) {
      for (var ii = 0; ii < D.images.length; ii++) {
        var im = D.images[ii];
        var lay = L.imageOverlay(im.url, im.bounds, { opacity: 0.9, className: "ga-surface", interactive: false });
        if (im.show) lay.addTo(map);
        overlays[esc(im.name)] = lay;
      }
    }
    if (D.roads && D.roads.lines.length) {
      var rg = L.featureGroup();
      for (var ri = 0; ri < D.roads.lines.length; ri++) {
        var rl = D.roads.lines[ri];
        L.polyline(rl.coords, { color: D.roads.color, weight: 5, opacity: 0.9 })
          .bindTooltip(esc(rl.label), { sticky: true, className: "ga-tip" }).addTo(rg);
      }
      overlays[esc(D.roads.name)] = rg.addTo(map);
    }
    if (D.changed) {
      map.createPane("changed").style.zIndex = 650;
      var cg = L.featureGroup();
      for (var ci = 0; ci < D.changed.points.length; ci++) {
        var cp = D.changed.points[ci];
        var cm = L.circleMarker([cp.lat, cp.lon], {
          pane: "changed", radius: 9, color: cp.color, weight: 3, fill: true, fillColor: cp.color,
          fillOpacity: cp.hollow ? 0.2 : 0.9
        });
        var body = "<b>" + esc(cp.name) + "</b><br>" + esc(cp.line) + '<br><span class="ga-code">id ' + esc(cp.id) + "</span>";
        cm.bindTooltip(body, { className: "ga-tip", direction: "top", offset: [0, -8] });
        cm.bindPopup(body, { maxWidth: 320 });
        cg.addLayer(cm);
        changed.push({ name: cp.name, marker: cm, lat: cp.lat, lon: cp.lon });
      }
      overlays[esc(D.changed.name)] = cg.addTo(map);
    }

    // Many circles of one style on one canvas, each stamped from a pre-drawn symbol. Drawn as paths (one
    // L.circleMarker each, or one path of many arcs), 30,000 village clinics take one to two seconds on every
    // pan and zoom; stamped, a few tens of milliseconds. They take no mouse events themselves (see hitCircle).
    var Dots = L.Path.extend({
      initialize: function (latlngs, options) {
        L.setOptions(this, options);
        this._ll = latlngs;
      },
      _project: function () {
        var pts = [], b = new L.Bounds(), pad = this.options.radius + this.options.weight;
        for (var k = 0; k < this._ll.length; k++) {
          var p = this._map.latLngToLayerPoint(this._ll[k]);
          pts.push(p);
          b.extend(p);
        }
        this._pts = pts;
        this._pxBounds = pts.length ? new L.Bounds(b.min.subtract([pad, pad]), b.max.add([pad, pad])) : new L.Bounds();
      },
      _update: function () { if (this._map) this._updatePath(); },
      _updatePath: function () {
        var rd = this._renderer, ctx = rd._ctx, o = this.options, v = rd._bounds;
        if (!rd._drawing || !this._pts.length) return;
        if (!this._sprite) { // the symbol drawn once, then stamped: one path of 30,000 arcs fills slowly
          var h = Math.ceil(o.radius + o.weight), c = this._sprite = document.createElement("canvas");
          var m = L.Browser.retina ? 2 : 1; // as the renderer's own canvas, so symbols stay sharp
          c.width = c.height = 2 * h * m;
          this._half = h;
          var g = c.getContext("2d");
          g.scale(m, m);
          g.beginPath();
          g.arc(h, h, o.radius, 0, 2 * Math.PI);
          g.fillStyle = o.fillColor;
          g.fill();
          g.lineWidth = o.weight;
          g.strokeStyle = o.color;
          g.stroke();
        }
        var half = this._half;
        for (var k = 0; k < this._pts.length; k++) {
          var p = this._pts[k];
          if (p.x < v.min.x - half || p.x > v.max.x + half || p.y < v.min.y - half || p.y > v.max.y + half) continue;
          ctx.drawImage(this._sprite, p.x - half, p.y - half, 2 * half, 2 * half);
        }
      },
      _empty: function () { return !this._pts || !this._pts.length; },
      _containsPoint: function () { return false; }
    });

    // facilities: places, names and shared popup values from the bundle's one facilities file; the page says
    // which ranks it shows and adds its own per-facility values. Circles (the many village clinics) are drawn
    // on one canvas, the other symbols as markers; popups and tooltips are made when first needed.
    var markers = []; // search entries: {i, name, marker or null}
    var F = window.geoaccessFacilities;
    if (D.facilities && F) {
      var styles = {};
      var legendTiers = (D.legend && D.legend.tiers) || [];
      for (var k = 0; k < legendTiers.length; k++) styles[legendTiers[k].rank] = legendTiers[k];
      var shownRank = {};
      for (var k2 = 0; k2 < D.facilities.ranks.length; k2++) shownRank[D.facilities.ranks[k2]] = true;
      var fd = D.facilities, R = fd.rows;
      var popupHtml = function (i, j) {
        var rows = [[R.tier, F.tier[i]], [R.beds, F.beds[i]]];
        if (fd.nearest) rows.push([R.nearest, fd.nearest[j]], [R.reach, fd.reach[j]]);
        if (R.referral && R.referral[F.rank[i]]) rows.push([R.referral[F.rank[i]], F.referral[i]]);
        rows.push([R.id, F.id[i]]);
        return "<b>" + esc(F.name[i]) + "</b>" + rowsTable(rows);
      };
      map.createPane("gaPoints").style.zIndex = 450; // above counties and bands, below the hospital symbols
      map.getPane("gaPoints").style.pointerEvents = "none"; // the canvas must not hide the counties' tooltips
      var canvas = L.canvas({ pane: "gaPoints", padding: 0.2 });
      var group = L.featureGroup(), circles = [], order = [], dots = {};
      for (var i = 0, j = 0; i < F.rank.length; i++) if (shownRank[F.rank[i]]) order.push([i, j++]);
      // higher tiers drawn last, so hospitals stay on top of clinics
      order.sort(function (a, b) { return F.rank[a[0]] - F.rank[b[0]] || a[0] - b[0]; });
      for (var n = 0; n < order.length; n++) {
        var fi = order[n][0], fj = order[n][1], rk = F.rank[fi];
        var st = styles[rk] || { shape: "circle", color: "#333", size: 10 }, m = null;
        if (st.shape === "circle") {
          if (!dots[rk]) {
            dots[rk] = new Dots([], {
              renderer: canvas, radius: st.size / 2 - 1, color: "#fff", weight: 1.5, fill: true, fillColor: st.color,
              fillOpacity: 1, interactive: false
            });
            group.addLayer(dots[rk]);
          }
          dots[rk]._ll.push([F.lat[fi], F.lon[fi]]);
          circles.push({ i: fi, j: fj, r: st.size / 2 });
        } else {
          var icon = L.divIcon({ className: "ga-fac ga-tier-" + rk, html: symbol(st), iconSize: [st.size, st.size] });
          m = L.marker([F.lat[fi], F.lon[fi]], { icon: icon, zIndexOffset: rk * 1000, riseOnHover: true });
          m.bindPopup(L.bind(popupHtml, null, fi, fj), { maxWidth: 320 });
          m.bindTooltip(esc(F.name[fi]), { direction: "top", offset: [0, -st.size / 2], className: "ga-tip" });
          group.addLayer(m);
        }
        markers.push({ i: fi, j: fj, name: F.name[fi], marker: m });
      }
      if (D.facilities.show) group.addTo(map);
      overlays[esc(D.facilities.name)] = group;
      map.gaFacilityCount = markers.length;

      // the canvas circles take no events themselves: find the one under the mouse (within its radius + 2 px)
      var tip = L.tooltip({ direction: "top", className: "ga-tip", offset: [0, -5] });
      var hitCircle = function (e) {
        if (!map.hasLayer(group)) return null;
        var p = e.containerPoint, best = null, bestD = Infinity;
        var sw = map.containerPointToLatLng([p.x - 12, p.y + 12]), ne = map.containerPointToLatLng([p.x + 12, p.y - 12]);
        for (var c = 0; c < circles.length; c++) {
          var q = circles[c], la = F.lat[q.i], lo = F.lon[q.i];
          if (la < sw.lat || la > ne.lat || lo < sw.lng || lo > ne.lng) continue;
          var cp = map.latLngToContainerPoint([la, lo]), d = cp.distanceTo(p);
          if (d <= q.r + 2 && d < bestD) { best = q; bestD = d; }
        }
        return best;
      };
      map.on("mousemove", function (e) {
        var q = hitCircle(e);
        map.getContainer().style.cursor = q ? "pointer" : "";
        if (q) map.openTooltip(tip.setContent(esc(F.name[q.i])).setLatLng([F.lat[q.i], F.lon[q.i]]));
        else if (map.hasLayer(tip)) map.closeTooltip(tip);
      });
      map.on("click", function (e) {
        var q = hitCircle(e);
        if (q) openCircle(q);
      });
      map.gaHitCircle = hitCircle;
      var openCircle = function (q) {
        L.popup({ maxWidth: 320 }).setLatLng([F.lat[q.i], F.lon[q.i]]).setContent(popupHtml(q.i, q.j)).openOn(map);
      };
    }

    addCatchments(map, D, overlays, fitZoom);
    L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(map);
    addPeriodSwitch(map, D);
    L.control.scale({ imperial: false, metric: true, position: "bottomright" }).addTo(map);

    // full screen: the browser's Fullscreen API, or a full-window fallback where it is missing
    var Full = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        var b = el("a", "ga-fullscreen leaflet-bar-part");
        b.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" fill="none" stroke="#222" stroke-width="2">' +
          '<path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5"/></svg>'; // a constant: no data in it
        b.href = "#";
        b.title = T.fullscreen || "";
        b.setAttribute("role", "button");
        var box = el("div", "leaflet-bar leaflet-control ga-fullscreen-box");
        box.appendChild(b);
        L.DomEvent.on(b, "click", function (ev) {
          L.DomEvent.preventDefault(ev);
          var body = document.body;
          if (document.fullscreenElement) { document.exitFullscreen(); return; }
          if (body.requestFullscreen) {
            var r = body.requestFullscreen();
            if (r && r["catch"]) r["catch"](function () { toggleClass(body); });
          } else {
            toggleClass(body);
          }
        });
        return box;
      }
    });
    function toggleClass(body) {
      body.className = /ga-full/.test(body.className) ? body.className.replace(" ga-full", "") : body.className + " ga-full";
      setTimeout(function () { map.invalidateSize(); }, 50);
    }
    document.addEventListener("fullscreenchange", function () { setTimeout(function () { map.invalidateSize(); }, 50); });
    new Full().addTo(map);

    // search by facility name (on compare pages: the changed facilities)
    markers = markers.concat(changed);
    if (markers.length) {
      var Search = L.Control.extend({
        options: { position: "topleft" },
        onAdd: function () {
          var box = el("div", "leaflet-control ga-search");
          var input = el("input");
          input.type = "search";
          input.placeholder = T.search || "";
          input.setAttribute("aria-label", T.search || "");
          var list = el("ul", "ga-search-results");
          box.appendChild(input);
          box.appendChild(list);
          L.DomEvent.disableClickPropagation(box);
          L.DomEvent.disableScrollPropagation(box);
          function show() {
            var q = input.value.trim().toLowerCase();
            list.innerHTML = "";
            if (!q) return;
            var hits = 0;
            for (var i = 0; i < markers.length && hits < 12; i++) {
              if (markers[i].text === undefined) markers[i].text = String(markers[i].name).toLowerCase(); // on first use
              if (markers[i].text.indexOf(q) < 0) continue;
              hits++;
              var li = el("li", null, markers[i].name);
              li.gaMarker = markers[i];
              L.DomEvent.on(li, "click", function (ev) {
                // the list is emptied below, so the map must not see this click (it would close the popup)
                L.DomEvent.stop(ev);
                var mk = this.gaMarker;
                // the map moves under a still mouse, so no mouseout closes a county's sticky tooltip: close them
                map.eachLayer(function (l) { if (l.closeTooltip && l.getTooltip && l.getTooltip()) l.closeTooltip(); });
                var at = mk.lat !== undefined ? [mk.lat, mk.lon] : [F.lat[mk.i], F.lon[mk.i]];
                map.setView(at, Math.max(map.getZoom(), 12));
                if (mk.marker) mk.marker.openPopup();
                else openCircle(mk);
                list.innerHTML = "";
              });
              list.appendChild(li);
            }
            if (!hits) list.appendChild(el("li", "ga-none", T.no_match));
          }
          L.DomEvent.on(input, "input", show);
          L.DomEvent.on(input, "keydown", function (ev) {
            if (ev.key === "Enter" && list.firstChild && list.firstChild.gaMarker) list.firstChild.click();
          });
          return box;
        }
      });
      new Search().addTo(map);
    }

    // legend
    if (D.legend) {
      var Legend = L.Control.extend({
        options: { position: "bottomleft" },
        onAdd: function () {
          var g = D.legend, h = "";
          var sw = function (c, cls) {
            return '<span class="ga-sw' + (cls || "") + '" style="border-color:' + esc(c) + ";background:" + esc(c) + '"></span>';
          };
          if (g.title) h += "<b>" + esc(g.title) + "</b>";
          if (g.classes) {
            for (var i = 0; i < g.classes.length; i++) h += "<div>" + sw(g.classes[i].color) + esc(g.classes[i].label) + "</div>";
            h += '<div class="ga-thr">' + esc(g.threshold) + "</div>";
          }
          if (g.delta) { // compare pages: faster (green) ... slower (red), in classes of minutes
            h += '<div class="ga-delta">' + esc(g.delta.faster) + " ";
            for (var d = 0; d < g.delta.colors.length; d++) h += '<span class="ga-dsw" style="background:' + esc(g.delta.colors[d]) + '"></span>';
            h += " " + esc(g.delta.slower) + '</div><div class="ga-note">' + esc(g.delta.note) + "</div>";
          }
          if (g.roads) h += '<div><span class="ga-line ga-main" style="border-color:' + esc(g.roads.color) + '"></span>' + esc(g.roads.label) + "</div>";
          if (g.circles) h += "<div>" + esc(g.circles) + "</div>";
          if (g.bands && g.bands.length) {
            h += '<div class="ga-sec">' + esc(g.bands_title) + "</div>";
            for (var b = 0; b < g.bands.length; b++)
              h += '<div><span class="ga-line' + (g.bands[b].main ? " ga-main" : "") + '" style="border-color:' + esc(g.bands[b].color) + '"></span>' + esc(g.bands[b].label) + "</div>";
            if (many) h += '<div class="ga-note ga-bands-hint">' + esc(T.zoom_for_bands) + "</div>";
          }
          if (D.catchments) h += '<div class="ga-note ga-catch-hint" style="display:none">' + esc(D.catchments.hint) + "</div>";
          if (g.areas && g.areas.length) {
            if (g.areas_title) h += '<div class="ga-sec">' + esc(g.areas_title) + "</div>";
            for (var a = 0; a < g.areas.length; a++)
              h += '<div title="' + esc(g.areas[a].note || "") + '">' + sw(g.areas[a].color, " ga-area") + esc(g.areas[a].label) +
                (g.areas[a].note ? '<div class="ga-note">' + esc(g.areas[a].note) + "</div>" : "") + "</div>";
          }
          if (g.alt && g.alt.length) {
            h += '<div class="ga-sec">' + esc(g.alt_title) + "</div>";
            for (var q = 0; q < g.alt.length; q++) h += "<div>" + sw(g.alt[q].color, " ga-area") + esc(g.alt[q].label) + "</div>";
          }
          if (g.tiers && g.tiers.length) {
            h += '<div class="ga-sec">' + esc(g.tiers_title) + "</div>";
            for (var t = 0; t < g.tiers.length; t++)
              h += '<div class="ga-sym">' + symbol(g.tiers[t]) + " " + esc(g.tiers[t].label) + "</div>";
          }
          if (g.hint) h += '<div class="ga-hint">' + esc(g.hint) + "</div>";
          var box = el("div", "leaflet-control ga-legend");
          box.innerHTML = h; // every data string in h went through esc()
          L.DomEvent.disableScrollPropagation(box);
          return box;
        }
      });
      var legend = new Legend().addTo(map);
    }

    // what this page added, for a page that stacks several on one map and switches them (geoaccess serve):
    // its overlays by name, its facility entries ({i, marker}: i indexes window.geoaccessFacilities) and legend
    (map.gaPages = map.gaPages || []).push({ data: D, overlays: overlays, facilities: markers, legend: legend || null });
    window.geoaccessMap = map; // for tests and for planners' own scripting in the console
    return map;
  }

  // -- travel-time surfaces (maps2) ---------------------------------------------------------------------------
  // A tier page has one surface (D.surface) or several of the same tier (D.surfaces, e.g. motorised and walking
  // only), drawn in the same classes: one at a time, switched in the layer control, the first shown.
  function surfaceLayer(S) {
    if (S.tiles) {
      // local XYZ tiles, written only where people live; the page knows which exist, so none is asked for in vain
      var have = {};
      for (var h = 0; h < S.have.length; h++) have[S.have[h]] = true;
      var Tiles = L.TileLayer.extend({
        createTile: function (coords, done) {
          if (have[coords.z + "/" + coords.x + "/" + coords.y]) return L.TileLayer.prototype.createTile.call(this, coords, done);
          var empty = document.createElement("div");
          L.Util.requestAnimFrame(L.bind(done, this, null, empty));
          return empty;
        }
      });
      return new Tiles(S.tiles, {
        opacity: 0.8, className: "ga-surface", minNativeZoom: S.minZoom, maxNativeZoom: S.maxZoom, maxZoom: 19, zIndex: 2
      });
    }
    return L.imageOverlay(S.url, S.bounds, { opacity: 0.8, className: "ga-surface", interactive: false });
  }

  function addSurfaces(map, D, overlays) {
    var list = D.surfaces || (D.surface ? [D.surface] : []), layers = [];
    for (var k = 0; k < list.length; k++) {
      var lay = surfaceLayer(list[k]);
      lay.gaSurface = k;
      if (k === 0) lay.addTo(map);
      overlays[esc(list[k].name)] = lay;
      layers.push(lay);
    }
    if (layers.length > 1) {
      map.on("overlayadd", function (e) {
        if (e.layer.gaSurface === undefined) return;
        // after the layer control has finished handling the click, or it adds the other back
        setTimeout(function () {
          for (var j = 0; j < layers.length; j++) if (layers[j] !== e.layer && map.hasLayer(layers[j])) map.removeLayer(layers[j]);
        }, 0);
      });
    }
    map.gaSurfaces = layers;
    return layers;
  }

  // -- per-facility catchments (maps2) ------------------------------------------------------------------------
  // The polygons are in their own file (data/catchments_<tier>.js), loaded when the layer is first switched on.
  // Many catchments (a province's village clinics) are drawn only from two zoom levels closer than the whole
  // study area, only those in view, and only once no more than CATCH_MAX_SHOWN are: a few thousand polygons on one
  // canvas at most, however many the province has (Shanxi's 19,128: 8,300 in view around Taiyuan two levels in
  // took a second to draw; 2,000 take about a quarter).
  var CATCH_MANY = 1500, CATCH_MAX_SHOWN = 2000;

  function decodeRing(d, step) {
    var out = [], x = 0, y = 0;
    for (var k = 0; k + 1 < d.length; k += 2) {
      x += d[k];
      y += d[k + 1];
      out.push([y * step, x * step]);
    }
    return out;
  }

  function addCatchments(map, D, overlays, fitZoom) {
    var C = D.catchments;
    if (!C) return null;
    var group = L.featureGroup(), built = null, shown = {}, many = C.count > CATCH_MANY;
    var minZoom = many ? fitZoom + 2 : -Infinity;
    var pane = map.createPane("gaCatchments");
    pane.style.zIndex = 420; // above the surface and counties, below the facilities
    // the canvas lets the mouse through, so county tooltips still show; a click is matched here (hit below)
    pane.style.pointerEvents = "none";
    var canvas = L.canvas({ pane: "gaCatchments", padding: 0.3 });
    var style = {
      renderer: canvas, color: "#3b3b3b", weight: 1, opacity: 0.8, fill: true, fillColor: "#ffffff", fillOpacity: 0.04,
      interactive: false
    };

    function popup(k, e) {
      var F = window.geoaccessFacilities, R = C.rows, X = built.X, fi = X.facility[k];
      var name = F ? F.name[fi] : "", rows = [];
      if (F) rows.push([R.tier, F.tier[fi]]);
      rows.push([R.people, X.people[k]], [R.area, X.area[k]]);
      var h = '<div class="ga-why-head">' + esc(R.of) + " <b>" + esc(name) + "</b></div>" + rowsHtml(rows);
      L.popup({ maxWidth: 340, className: "ga-catchment" }).setLatLng(e.latlng).setContent(h).openOn(map);
    }

    // the catchment drawn under a map click, or -1
    function hit(e) {
      if (!built || !map.hasLayer(group)) return -1;
      var p = map.latLngToLayerPoint(e.latlng);
      for (var k in shown) {
        if (built.boxes[k].contains(e.latlng) && built.polys[k]._containsPoint(p)) return +k;
      }
      return -1;
    }
    map.gaCatchmentAt = hit; // the county layer's click gives way to it
    map.on("click", function (e) {
      // a clinic's own popup wins (the canvas circles: see hitCircle)
      if (map.gaHitCircle && map.gaHitCircle(e)) return;
      var k = hit(e);
      if (k >= 0) popup(k, e);
    });

    function build(X) {
      var polys = [], boxes = [];
      for (var k = 0; k < X.geometry.length; k++) {
        var parts = [];
        for (var p = 0; p < X.geometry[k].length; p++) {
          var rings = [];
          for (var r = 0; r < X.geometry[k][p].length; r++) rings.push(decodeRing(X.geometry[k][p][r], X.step));
          parts.push(rings);
        }
        var poly = L.polygon(parts, style);
        polys.push(poly);
        boxes.push(poly.getBounds());
      }
      built = { X: X, polys: polys, boxes: boxes };
      sync();
    }

    // the polygons in (or near) view, once the map is close enough; the rest are taken off the canvas
    function sync() {
      if (!built || !map.hasLayer(group)) return;
      var close = map.getZoom() >= minZoom, view = map.getBounds().pad(0.3), want = {}, n = 0;
      for (var k = 0; close && k < built.polys.length; k++) {
        if (!many || view.intersects(built.boxes[k])) { want[k] = true; n++; }
      }
      if (many && n > CATCH_MAX_SHOWN) { close = false; want = {}; }
      for (var s in shown) if (!want[s]) { group.removeLayer(built.polys[s]); delete shown[s]; }
      for (var w in want) if (!shown[w]) { group.addLayer(built.polys[w]); shown[w] = true; }
      var hint = map.getContainer().querySelector(".ga-catch-hint");
      if (hint) hint.style.display = close ? "none" : "";
    }

    group.on("add", function () {
      var hint = map.getContainer().querySelector(".ga-catch-hint");
      if (built) { sync(); return; }
      var have = window.geoaccessCatchments && window.geoaccessCatchments[C.key];
      if (have) { build(have); return; }
      if (hint) { hint.style.display = ""; }
      var sc = document.createElement("script");
      sc.src = C.src; // a script, not a fetch: pages opened from disk may load scripts but not JSON
      sc.onload = function () { build(window.geoaccessCatchments[C.key]); };
      document.head.appendChild(sc);
    });
    group.on("remove", function () {
      var hint = map.getContainer().querySelector(".ga-catch-hint");
      if (hint) hint.style.display = "none";
    });
    map.on("moveend", sync);
    overlays[esc(C.name)] = group; // off until switched on
    map.gaCatchments = group;
    return group;
  }

  function rowsHtml(rows) {
    var h = '<table class="ga-rows">';
    for (var i = 0; i < rows.length; i++) h += "<tr><th>" + esc(rows[i][0]) + "</th><td>" + esc(rows[i][1]) + "</td></tr>";
    return h + "</table>";
  }

  // -- time-of-day period switch (maps2) ----------------------------------------------------------------------
  // The same page in the bundle of each period (D.periods.links: label, relative href, current), as plain links.
  function addPeriodSwitch(map, D) {
    if (!D.periods || !D.periods.links || D.periods.links.length < 2) return null;
    var Switch = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var box = el("div", "leaflet-control ga-periods");
        box.appendChild(el("span", "ga-periods-title", D.periods.title + ":"));
        for (var i = 0; i < D.periods.links.length; i++) {
          var p = D.periods.links[i], a;
          if (p.current) {
            a = el("b", "ga-current", p.label);
            a.setAttribute("aria-current", "page");
          } else {
            a = el("a", null, p.label);
            a.href = p.href;
            // keep the view: the other period's page opens where this one is
            a.onclick = function () {
              var c = map.getCenter();
              this.href = this.href.split("#")[0] + "#" + map.getZoom() + "/" + c.lat.toFixed(5) + "/" + c.lng.toFixed(5);
            };
          }
          box.appendChild(a);
        }
        L.DomEvent.disableClickPropagation(box);
        return box;
      }
    });
    new Switch().addTo(map);
    // a view handed over by the switch of another period's page
    var m = /^#(\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)$/.exec(window.location.hash || "");
    if (m) map.setView([parseFloat(m[2]), parseFloat(m[3])], parseFloat(m[1]), { animate: false });
    return true;
  }

  // -- print (maps2) ------------------------------------------------------------------------------------------
  // On paper the legend cannot be moved aside: the study area is fitted into the part of the map right of it.
  function printPadding(map) {
    var printing = window.matchMedia && window.matchMedia("print").matches;
    var legend = map.getContainer().querySelector(".ga-legend");
    var left = printing && legend ? legend.offsetWidth + 20 : 10;
    return { paddingTopLeft: [left, 10], paddingBottomRight: [10, 10], animate: false };
  }

  window.geoaccess = { render: render, esc: esc };
})();
