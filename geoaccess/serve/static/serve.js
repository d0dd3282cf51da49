/* geoaccess serve: what-if in the browser (issue 16), on top of the bundle's map plugin.
 *
 * The map is the bundle's: folium made it and the plugin (lib/geoaccess/map.js, geoaccess.render) drew the
 * overview; this file renders the tier maps on the same map (#ga-pages), keeps one page's layers shown at a time
 * (switched in one layer control, with the change layers and the edits), and adds the editing: edit buttons in the
 * facilities' popups, dragging a facility to move it, a click to add one, drawing a road, changing a road's speed.
 * The planner's edits are kept as a list and posted, whole, to /api/scenario after each change; the answer updates
 * the panel (headline, table, edits in words) and the map (change layer per tier: gains green, losses red).
 * Every text from the study or the planner goes in with textContent: nothing is parsed as HTML.
 * window.geoaccessServe holds counters a test or a benchmark reads (updates, lastEditMs).
 */
(function () {
  'use strict';

  var ui = { updates: 0, lastEditMs: null, lastServerMs: null, lastTimings: null, errors: 0, ready: false };
  window.geoaccessServe = ui;
  ui.state = function () {  // for tests: the page shown and the change layers (on the map, images in them)
    var out = { page: active, mode: mode, edits: edits.length, change: {} };
    Object.keys(changeLayers).forEach(function (t) {
      out.change[t] = { shown: map.hasLayer(changeLayers[t]), images: changeLayers[t].getLayers().length };
    });
    return out;
  };

  var cfg, T, map, baseline, F;
  var byId = {};                 // baseline facilities by id (from /api/baseline: WGS84, beds as numbers)
  var fIndex = {};               // facility id -> index into window.geoaccessFacilities
  var atPlace = {};              // "lat,lon" of a facility symbol -> its index (popups of canvas circles)
  var edits = [];                // [{kind, items: [...], words, geom}] in the order made
  var addCount = 0;
  var current = null;            // the last scenario answer (null: the baseline)
  var seq = 0, shown = 0, inflight = false, queued = false, clickedAt = null;
  var mode = 'add';
  var picking = null;            // {kind: 'move' | 'campus', f}: the next map click (or the handle's drag) places it
  var handle = null, pickMarker = null;
  var pages = [], pageGroups = [], active = 0;
  var changeLayers = {}, editLayer, draftLayer, layerControl;
  var road = [];                 // the road being drawn: [{lon, lat}] of snapped junctions
  var clickSeq = 0, handledSeq = -1;

  // -- small helpers -----------------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, key) {
      return values[key] === undefined ? m : String(values[key]);
    });
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function num(v, digits) {
    if (v === null || v === undefined) { return '–'; }
    return Number(v).toLocaleString(cfg.lang === 'zh' ? 'zh-CN' : 'en-GB',
      { maximumFractionDigits: digits || 0, minimumFractionDigits: digits || 0 });
  }

  function signed(v, digits) {
    var r = Number(v.toFixed(digits || 0));
    if (r === 0) { return ''; }  // never a red "−0"
    return (r > 0 ? '+' : '−') + num(Math.abs(r), digits);
  }

  function tierLabel(name) {
    for (var i = 0; i < cfg.tiers.length; i++) { if (cfg.tiers[i].name === name) { return cfg.tiers[i].label; } }
    return name;
  }

  function tierRank(name) {
    for (var i = 0; i < cfg.tiers.length; i++) { if (cfg.tiers[i].name === name) { return i; } }
    return -1;
  }

  function zoneLabel(z) { return (baseline.zones && baseline.zones[z]) || z; }

  function km(m) { return (m / 1000).toFixed(1); }

  function getJSON(path) {
    return fetch(cfg.api + path, { credentials: 'same-origin', headers: tokenHeader({}) })
      .then(function (r) { return r.json(); });
  }

  function postJSON(path, body) {
    return fetch(cfg.api + path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: tokenHeader({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  }

  function tokenHeader(h) {
    var m = /[?&]token=([^&]+)/.exec(window.location.search);
    if (m) { h['X-Geoaccess-Token'] = decodeURIComponent(m[1]); }
    return h;
  }

  // -- the scenario ------------------------------------------------------------------------------------
  function scenarioBody() {
    var body = { scenario: { name: ($('ga-save-name').value || 'web').trim() } };
    edits.forEach(function (e) {
      e.items.forEach(function (item) { (body[e.kind] = body[e.kind] || []).push(item); });
    });
    return body;
  }

  function words(kind, item) {
    var f = byId[item.id || item.of];
    if (kind === 'add') {
      return fmt(T.w_add, { tier: tierLabel(item.tier), name: item.name, beds: num(item.beds),
        lon: item.lon.toFixed(4), lat: item.lat.toFixed(4) });
    }
    if (kind === 'remove') { return fmt(T.w_remove, { name: f ? f.name : item.id, id: item.id }); }
    if (kind === 'move' || kind === 'campus') {
      return fmt(T['w_' + kind], { name: f ? f.name : (item.id || item.of), beds: num(item.beds),
        lon: item.lon.toFixed(4), lat: item.lat.toFixed(4) });
    }
    if (kind === 'road_speed') { return fmt(T.w_road_speed, { n: item.route.length, kmh: item.kmh }); }
    if (kind === 'road_add') {
      return fmt(T.w_road_add, { from: item.from.map(function (v) { return v.toFixed(4); }).join(', '),
        to: item.to.map(function (v) { return v.toFixed(4); }).join(', '), kmh: item.kmh });
    }
    if (item.tier === undefined) { return fmt(T.w_beds, { name: f ? f.name : item.id, beds: num(item.beds) }); }
    return fmt(T['w_' + kind], { name: f ? f.name : item.id, tier: tierLabel(item.tier) });
  }

  function addEdit(kind, item, extra) {
    // one edit per existing facility (campuses aside): a new one replaces the old
    if (kind !== 'add' && kind !== 'campus' && item.id !== undefined) {
      edits = edits.filter(function (e) {
        return e.kind === 'add' || e.kind === 'campus' || e.items[0].id !== item.id;
      });
    }
    var rec = { kind: kind, items: [item], words: words(kind, item) };
    if (extra) { for (var k in extra) { rec[k] = extra[k]; } }
    edits.push(rec);
    changed();
  }

  function undo(index) {
    edits.splice(index, 1);
    changed();
  }

  function changed() {
    clickedAt = performance.now();
    map.closePopup();
    drawEdits();
    request();
  }

  function request() {
    if (inflight) { queued = true; return; }  // one request at a time; the latest edits go next
    if (!edits.length) { show(null, seq); return; }
    inflight = true;
    var mine = ++seq;
    status(T.working);
    postJSON('/api/scenario', scenarioBody()).then(function (r) {
      inflight = false;
      if (queued) { queued = false; request(); return; }
      if (r.status === 200) { show(r.body, mine); } else { rejected(r.body); }
    }).catch(function (err) {
      inflight = false;
      ui.errors += 1;
      status(String(err));
    });
  }

  function rejected(body) {
    ui.errors += 1;
    var box = $('ga-status');
    clear(box);
    box.className = 'ga-error';
    box.appendChild(el('div', T.rejected + ' ' + (body.error || '')));
    var list = el('ul');
    (body.problems || []).forEach(function (p) { list.appendChild(el('li', p)); });
    box.appendChild(list);
  }

  function status(text) {
    var box = $('ga-status');
    clear(box);
    box.className = '';
    box.textContent = text;
  }

  // -- the panel ---------------------------------------------------------------------------------------
  function drawEdits() {
    var list = $('ga-edits');
    clear(list);
    edits.forEach(function (e, i) {
      var li = el('li');
      li.appendChild(el('span', e.words));
      var b = el('button', T.undo, 'ga-undo');
      b.type = 'button';
      b.addEventListener('click', function () { undo(i); });
      li.appendChild(b);
      list.appendChild(li);
    });
    $('ga-undo-last').disabled = !edits.length;
    $('ga-clear').disabled = !edits.length;
  }

  function show(answer, mine) {
    if (mine < shown) { return; }  // an older answer arriving late
    shown = mine;
    current = answer;
    var rows = answer ? answer.counties : baseline.counties;
    drawHeadline(answer ? answer.headline : baseline.headline);
    drawTable(rows);
    drawChange(answer);
    drawEditLayer(answer ? answer.facilities : []);
    ui.updates += 1;
    if (clickedAt !== null) { ui.lastEditMs = performance.now() - clickedAt; }
    ui.lastServerMs = answer ? answer.timings.request * 1000 : null;
    ui.lastTimings = answer ? answer.timings : null;  // the server's stages, seconds
    document.body.setAttribute('data-ga-updates', String(ui.updates));
    status(answer ? fmt(T.done, { ms: Math.round(ui.lastEditMs), server: Math.round(ui.lastServerMs) }) : '');
  }

  function drawHeadline(h) {
    var b = baseline.headline;
    var box = $('ga-headline');
    clear(box);
    var list = el('dl');
    cfg.tiers.forEach(function (t) {
      list.appendChild(el('dt', fmt(T.beyond, { tier: t.label })));
      var dd = el('dd', num(h.people_beyond[t.name]));
      var d = h.people_beyond[t.name] - b.people_beyond[t.name];
      if (signed(d)) { dd.appendChild(el('span', ' ' + signed(d), d < 0 ? 'ga-better' : 'ga-worse')); }
      list.appendChild(dd);
    });
    list.appendChild(el('dt', T.failing));
    var f = el('dd', h.counties_failing + ' / ' + h.counties);
    var df = h.counties_failing - b.counties_failing;
    if (df) { f.appendChild(el('span', ' ' + signed(df), df < 0 ? 'ga-better' : 'ga-worse')); }
    list.appendChild(f);
    Object.keys(baseline.zones).forEach(function (z) {
      list.appendChild(el('dt', zoneLabel(z)));
      var dd = el('dd', String(h.zones[z] || 0));
      var dz = (h.zones[z] || 0) - (b.zones[z] || 0);
      if (dz) { dd.appendChild(el('span', ' ' + signed(dz), 'ga-changed')); }
      list.appendChild(dd);
    });
    box.appendChild(list);
  }

  function drawTable(rows) {
    var table = $('ga-table');
    var head = table.tHead;
    if (!head.rows.length) {
      var tr = el('tr');
      tr.appendChild(el('th', T.county));
      tr.appendChild(el('th', T.zone));
      cfg.tiers.forEach(function (t) { tr.appendChild(el('th', fmt(T.share, { tier: t.label }))); });
      head.appendChild(tr);
    }
    var body = table.tBodies[0];
    clear(body);
    rows.forEach(function (r, i) {
      var b = baseline.counties[i];
      var tr = el('tr');
      tr.setAttribute('data-county', r.county_code);
      tr.appendChild(el('td', r.county_name));
      var zone = el('td', zoneLabel(r.zone), 'ga-zone');
      zone.style.borderLeft = '6px solid ' + (cfg.colors.zone[r.zone] || '#999');
      if (r.zone !== b.zone) {
        zone.textContent = zoneLabel(b.zone) + ' → ' + zoneLabel(r.zone);
        zone.className += ' ga-changed';
      }
      tr.appendChild(zone);
      cfg.tiers.forEach(function (t) {
        var share = r[t.name + '_share_within'];
        var td = el('td', share === null ? '–' : num(100 * share, 1) + '%', 'ga-' + r[t.name + '_status']);
        var d = 100 * (share - b[t.name + '_share_within']);
        if (signed(d, 1)) { td.appendChild(el('span', ' ' + signed(d, 1), d > 0 ? 'ga-better' : 'ga-worse')); }
        if (r[t.name + '_status'] !== b[t.name + '_status']) { td.className += ' ga-changed'; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  // -- the map: the bundle's pages, one at a time ------------------------------------------------------
  function stackPages() {
    F = window.geoaccessFacilities || { id: [], lat: [], lon: [], rank: [] };
    for (var i = 0; i < F.id.length; i++) {
      fIndex[F.id[i]] = i;
      var key = F.lat[i] + ',' + F.lon[i];
      if (atPlace[key] === undefined) { atPlace[key] = i; }
    }
    JSON.parse($('ga-pages').textContent).forEach(function (D) { geoaccess.render(map, D); });
    pages = map.gaPages || [];
    // one layer control, one search, one full-screen button, one scale for the whole page; a legend per page
    var box = map.getContainer();
    // (the bundle's links to other periods' pages lead nowhere here: gone too)
    ['.leaflet-control-layers', '.ga-periods', '.ga-search', '.ga-fullscreen-box', '.leaflet-control-scale']
      .forEach(function (sel, k) {
        var nodes = box.querySelectorAll(sel);
        for (var n = k < 2 ? 0 : 1; n < nodes.length; n++) { nodes[n].parentNode.removeChild(nodes[n]); }
      });
    var bases = {};
    pages.forEach(function (h, k) {
      var shownLayers = [];
      Object.keys(h.overlays).forEach(function (name) {
        var layer = h.overlays[name];
        if (map.hasLayer(layer)) { shownLayers.push(layer); map.removeLayer(layer); }
      });
      pageGroups.push(L.layerGroup(shownLayers));
      bases[geoaccess.esc(cfg.pages[k] || String(k))] = pageGroups[k];
      (h.facilities || []).forEach(function (entry) {
        if (entry.marker && entry.i !== undefined) { draggable(entry.marker, entry.i); }
      });
    });
    map.createPane('gaEdits').style.zIndex = 660;  // above the hospital symbols
    editLayer = L.featureGroup().addTo(map);
    draftLayer = L.featureGroup().addTo(map);
    var overlays = {};
    cfg.tiers.forEach(function (t) {
      changeLayers[t.name] = L.layerGroup();
      overlays[geoaccess.esc(fmt(T.change_in, { tier: t.label }))] = changeLayers[t.name];
    });
    overlays[geoaccess.esc(T.edits_layer)] = editLayer;
    layerControl = L.control.layers(bases, overlays, { collapsed: false, position: 'topright' }).addTo(map);
    map.on('baselayerchange', function (ev) {
      // after the layer control has finished handling the click (it ignores layers added while it does)
      var k = pageGroups.indexOf(ev.layer);
      setTimeout(function () { showPage(k); }, 0);
    });
    showPage(0);
  }

  function showPage(k) {
    if (k < 0) { return; }
    active = k;
    pageGroups.forEach(function (g, j) { if (j !== k && map.hasLayer(g)) { map.removeLayer(g); } });
    if (!map.hasLayer(pageGroups[k])) { pageGroups[k].addTo(map); }
    pages.forEach(function (h, j) {
      if (h.legend) { h.legend.getContainer().style.display = j === k ? '' : 'none'; }
    });
    map.fire('zoomend');  // the page's county names placed again (they are placed by zoom and collision)
    showChangeFor(cfg.page_tiers[k]);
  }

  function showChangeFor(tier) {
    // a tier map shows its own tier's change; the overview the tier whose minutes changed for most people
    if (!tier && current) {
      var most = -1;
      Object.keys(current.cells_changed || {}).forEach(function (t) {
        if (current.cells_changed[t] > most) { most = current.cells_changed[t]; tier = t; }
      });
    }
    Object.keys(changeLayers).forEach(function (t) {
      var want = t === tier;
      if (want && !map.hasLayer(changeLayers[t])) { changeLayers[t].addTo(map); }
      if (!want && map.hasLayer(changeLayers[t])) { map.removeLayer(changeLayers[t]); }
    });
  }

  function drawChange(answer) {
    Object.keys(changeLayers).forEach(function (t) {
      changeLayers[t].clearLayers();
      var img = answer && answer.change && answer.change[t];
      if (img) {
        changeLayers[t].addLayer(L.imageOverlay(img.url, img.bounds,
          { opacity: 0.9, className: 'ga-surface ga-change', interactive: false, zIndex: 5 }));
      }
    });
    showChangeFor(cfg.page_tiers[active]);
  }

  // -- facilities: popups with edit buttons, dragging ------------------------------------------------------
  function facilityOf(popup) {
    var src = popup._source;
    if (src && src.gaIndex !== undefined) { return src.gaIndex; }
    if (src) { return -1; }
    var ll = popup.getLatLng();
    var i = ll ? atPlace[ll.lat + ',' + ll.lng] : undefined;
    return i === undefined ? -1 : i;
  }

  function onPopupOpen(ev) {
    var p = ev.popup;
    if (p.gaOwn) { handledSeq = clickSeq; return; }
    var i = facilityOf(p);
    if (i < 0) {  // a county's explanation: only when reading the map
      if (mode !== 'browse') { map.closePopup(p); }
      return;
    }
    handledSeq = clickSeq;
    var f = byId[F.id[i]];
    if (!f) { return; }
    var c = p.getContent();
    var html = c && c.gaHtml !== undefined ? c.gaHtml : (typeof c === 'function' ? c(p._source) : c);
    var node = el('div');
    node.gaHtml = html;
    var inner = el('div');
    inner.innerHTML = html;  // the plugin's own popup, its data already escaped by map.js
    node.appendChild(inner);
    node.appendChild(editButtons(f));
    p.setContent(node);
  }

  function draggable(marker, i) {
    marker.gaIndex = i;
    marker.options.draggable = true;  // enabled when the marker is added to the map (its page shown)
    if (marker.dragging) { marker.dragging.enable(); }
    marker.on('dragstart', function () { map.closePopup(); marker.gaFrom = marker.getLatLng(); });
    marker.on('dragend', function () {
      var to = marker.getLatLng();
      marker.setLatLng(marker.gaFrom);  // the symbol stays at the site; the edit layer draws the move
      var f = byId[F.id[i]];
      if (f) { addEdit('move', { id: f.id, lon: round6(to.lng), lat: round6(to.lat) }); }
    });
  }

  function round6(v) { return Math.round(v * 1e6) / 1e6; }

  function button(text, action) {
    var b = el('button', text);
    b.type = 'button';
    b.addEventListener('click', function (ev) { L.DomEvent.stopPropagation(ev); action(); });
    return b;
  }

  function editButtons(f) {
    var box = el('div', null, 'ga-popup');
    var rank = tierRank(f.tier);
    var edited = -1;
    edits.forEach(function (e, i) { if (e.kind !== 'add' && e.kind !== 'campus' && e.items[0].id === f.id) { edited = i; } });
    if (edited >= 0) {
      box.appendChild(el('div', edits[edited].words, 'ga-changed'));
      box.appendChild(button(T.undo, function () { undo(edited); }));
    }
    box.appendChild(button(T.remove, function () { addEdit('remove', { id: f.id }); }));
    if (rank < cfg.tiers.length - 1) {
      var up = cfg.tiers[rank + 1].name;
      box.appendChild(button(fmt(T.upgrade_to, { tier: tierLabel(up) }), function () {
        addEdit('upgrade', { id: f.id, tier: up });
      }));
    }
    if (rank > 0) {
      var down = cfg.tiers[rank - 1].name;
      box.appendChild(button(fmt(T.downgrade_to, { tier: tierLabel(down) }), function () {
        addEdit('downgrade', { id: f.id, tier: down });
      }));
    }
    box.appendChild(button(T.move, function () { pick('move', f); }));
    if (rank > 0 && f.beds > 0) { box.appendChild(button(T.campus, function () { pick('campus', f); })); }
    return box;
  }

  function pick(kind, f) {
    map.closePopup();
    closeAddForm();
    endPick();
    picking = { kind: kind, f: f };
    if (kind === 'move') {  // a handle to drag, for every facility (the clinics' circles cannot be dragged)
      handle = L.marker([f.lat, f.lon], { draggable: true, pane: 'gaEdits', zIndexOffset: 10000,
        icon: L.divIcon({ className: 'ga-handle', html: '<span>✥</span>', iconSize: [26, 26] }) }).addTo(map);
      handle.on('dragend', function () { place(handle.getLatLng()); });
      status(fmt(T.drag_hint, { name: f.name }));
    } else {
      status(fmt(T['pick_' + kind], { name: f.name }));
    }
  }

  function endPick() {
    picking = null;
    if (handle) { map.removeLayer(handle); handle = null; }
  }

  function place(latlng) {
    var p = picking;
    endPick();
    if (p.kind === 'move') {
      addEdit('move', { id: p.f.id, lon: round6(latlng.lng), lat: round6(latlng.lat) });
    } else {  // a campus takes half the hospital's beds (一院多区: beds move, they do not grow)
      addEdit('campus', { of: p.f.id, lon: round6(latlng.lng), lat: round6(latlng.lat), beds: Math.round(p.f.beds / 2) });
    }
  }

  // -- the edit layer: changed sites and roads ------------------------------------------------------------
  var CHANGE = { added: '#1a9850', campus: '#1a9850', upgraded: '#1a9850', moved: '#2b8cbe', downgraded: '#d73027',
    removed: '#d73027' };

  function drawEditLayer(rows) {
    editLayer.clearLayers();
    rows.forEach(function (r) {
      var color = CHANGE[r.change] || '#555';
      var hollow = r.change === 'removed' || r.change === 'downgraded';
      if (r.change === 'moved' && byId[r.id]) {  // the old site hollow, a line to the new one
        var old = [byId[r.id].lat, byId[r.id].lon];
        L.circleMarker(old, { pane: 'gaEdits', radius: 9, color: color, weight: 2, fillOpacity: 0.1,
          interactive: false }).addTo(editLayer);
        L.polyline([old, [r.lat, r.lon]], { pane: 'gaEdits', color: color, weight: 2, dashArray: '5,4',
          interactive: false }).addTo(editLayer);
      }
      var m = L.circleMarker([r.lat, r.lon], { pane: 'gaEdits', radius: 9, color: color, weight: 3,
        fillColor: color, fillOpacity: hollow ? 0.15 : 0.9 });
      m.bindTooltip(function () { return el('span', r.name); });
      m.on('click', function (ev) { L.DomEvent.stopPropagation(ev); handledSeq = clickSeq; editPopup(m, r); });
      editLayer.addLayer(m);
    });
    edits.forEach(function (e) {
      if (e.geom) {
        L.polyline(e.geom, { pane: 'gaEdits', color: '#6a3d9a', weight: 5, opacity: 0.85, interactive: false })
          .addTo(editLayer);
      }
    });
  }

  function editPopup(marker, r) {
    var box = el('div', null, 'ga-popup');
    box.appendChild(el('b', r.name));
    box.appendChild(el('div', tierLabel(r.tier) + ' · ' + fmt(T.beds_n, { beds: num(r.beds) })));
    var p = L.popup();
    p.gaOwn = true;
    if (r.change !== 'added' && r.change !== 'campus' && byId[r.id]) {  // an existing facility: all its edits
      box.appendChild(editButtons(byId[r.id]));
      p.setLatLng(marker.getLatLng()).setContent(box).openOn(map);
      return;
    }
    box.appendChild(button(T.remove_new, function () {
      for (var i = 0; i < edits.length; i++) {
        var it = edits[i].items[0];
        if ((it.id !== undefined && it.id === r.id) || (edits[i].kind === 'campus' && r.change === 'campus' &&
            it.of === r.parent_id && Math.abs(it.lon - r.lon) < 1e-5 && Math.abs(it.lat - r.lat) < 1e-5)) {
          undo(i);
          return;
        }
      }
    }));
    p.setLatLng(marker.getLatLng()).setContent(box).openOn(map);
  }

  // -- clicks on the map, by mode ---------------------------------------------------------------------------
  function onPreclick(ev) {
    var mine = ++clickSeq;
    // after the plugin's and the layers' own click handlers: a click on a facility opened its popup
    setTimeout(function () { if (handledSeq !== mine) { mapClick(ev.latlng); } }, 0);
  }

  function mapClick(latlng) {
    if (picking) { place(latlng); return; }
    if (mode === 'add') { openAddForm(latlng); } else if (mode === 'road') { roadPoint(latlng); } else if (mode === 'speed') {
      speedAt(latlng);
    }
  }

  function setMode(m) {
    mode = m;
    endPick();
    closeAddForm();
    $('ga-road').hidden = m !== 'road';
    if (m !== 'road') { road = []; draftLayer.clearLayers(); drawRoadDraft(); }
    if (m !== 'speed' && m !== 'road') { draftLayer.clearLayers(); }
    status(m === 'speed' ? T.speed_hint : m === 'road' ? T.road_hint : '');
  }

  function openAddForm(latlng) {
    map.closePopup();
    var form = $('ga-add');
    form.hidden = false;
    form.setAttribute('data-lon', String(latlng.lng));
    form.setAttribute('data-lat', String(latlng.lat));
    $('ga-add-where').textContent = latlng.lng.toFixed(4) + ', ' + latlng.lat.toFixed(4);
    if (pickMarker) { map.removeLayer(pickMarker); }
    pickMarker = L.circleMarker(latlng, { pane: 'gaEdits', radius: 8, color: '#000', weight: 2, dashArray: '3,3',
      fill: false, interactive: false }).addTo(map);
  }

  function closeAddForm() {
    $('ga-add').hidden = true;
    if (pickMarker) { map.removeLayer(pickMarker); pickMarker = null; }
  }

  function submitAdd() {
    var form = $('ga-add');
    var tier = $('ga-add-tier').value;
    var beds = Number($('ga-add-beds').value);
    addCount += 1;
    var name = $('ga-add-name').value.trim() || fmt(T.new_site, { tier: tierLabel(tier), n: addCount });
    var item = { lon: round6(Number(form.getAttribute('data-lon'))), lat: round6(Number(form.getAttribute('data-lat'))),
      tier: tier, beds: isFinite(beds) ? beds : 0, name: name, id: 'web-new-' + addCount };
    closeAddForm();
    $('ga-add-name').value = '';
    addEdit('add', item);
  }

  // -- roads: draw one through junctions, or change a link's speed -------------------------------------------
  function roadAt(latlng) {
    return getJSON('/api/road?lon=' + latlng.lng.toFixed(6) + '&lat=' + latlng.lat.toFixed(6));
  }

  function roadPoint(latlng) {
    roadAt(latlng).then(function (got) {
      if (got.error) { rejected(got); return; }
      if (got.junction_m > 5000) { status(fmt(T.road_far, { m: 5000 })); return; }
      var p = got.junction;
      if (road.length && road[road.length - 1][0] === p[0] && road[road.length - 1][1] === p[1]) { return; }
      road.push(p);
      drawRoadDraft();
    }).catch(function (err) { ui.errors += 1; status(String(err)); });
  }

  function roadLength(points) {
    var m = 0;
    for (var k = 1; k < points.length; k++) {
      m += L.latLng(points[k - 1][1], points[k - 1][0]).distanceTo(L.latLng(points[k][1], points[k][0]));
    }
    return m;
  }

  function drawRoadDraft() {
    draftLayer.clearLayers();
    var ll = road.map(function (p) { return [p[1], p[0]]; });
    ll.forEach(function (x) {
      L.circleMarker(x, { pane: 'gaEdits', radius: 5, color: '#6a3d9a', weight: 2, fillOpacity: 1, interactive: false })
        .addTo(draftLayer);
    });
    if (ll.length > 1) {
      L.polyline(ll, { pane: 'gaEdits', color: '#6a3d9a', weight: 4, dashArray: '6,4', interactive: false })
        .addTo(draftLayer);
    }
    $('ga-road-points').textContent = road.length ? fmt(T.road_points, { n: road.length, km: km(roadLength(road)) }) : '';
    $('ga-road-ok').disabled = road.length < 2;
  }

  function finishRoad() {
    var kmh = Number($('ga-road-kmh').value);
    if (road.length < 2) { return; }
    var items = [];
    for (var k = 1; k < road.length; k++) { items.push({ from: road[k - 1], to: road[k], kmh: kmh }); }
    var rec = { kind: 'road_add', items: items,
      words: fmt(T.w_road_draw, { n: items.length, km: km(roadLength(road)), kmh: kmh }),
      geom: road.map(function (p) { return [p[1], p[0]]; }) };
    road = [];
    drawRoadDraft();
    edits.push(rec);
    changed();
  }

  function speedAt(latlng) {
    roadAt(latlng).then(function (got) {
      if (got.error) { rejected(got); return; }
      var link = got.link;
      draftLayer.clearLayers();
      if (!link) { return; }
      L.polyline(link.coords, { pane: 'gaEdits', color: '#ff7f00', weight: 7, opacity: 0.9, interactive: false })
        .addTo(draftLayer);
      var cls = (T.road_classes || {})[link['class']] || link['class'] || '–';
      var box = el('div', null, 'ga-popup ga-speed');
      box.appendChild(el('div', fmt(T.speed_now, { cls: cls, km: km(link.length_m),
        kmh: link.kmh === null ? '–' : num(link.kmh) })));
      var label = el('label', T.speed_new + ' ');
      var input = el('input');
      input.type = 'number';
      input.min = '1';
      input.max = '200';
      input.step = '1';
      input.value = String(link.kmh ? Math.round(link.kmh) : 60);
      input.className = 'ga-speed-kmh';
      label.appendChild(input);
      box.appendChild(label);
      box.appendChild(button(T.apply, function () {
        var kmh = Number(input.value);
        draftLayer.clearLayers();
        var item = { route: link.ends, kmh: kmh };
        edits.push({ kind: 'road_speed', items: [item], geom: link.coords,
          words: fmt(T.w_link_speed, { cls: cls, km: km(link.length_m), kmh: kmh }) });
        changed();
      }));
      var p = L.popup({ maxWidth: 300 });
      p.gaOwn = true;
      p.setLatLng(latlng).setContent(box).openOn(map);
    }).catch(function (err) { ui.errors += 1; status(String(err)); });
  }

  // -- saved scenarios -------------------------------------------------------------------------------------
  function listSaved() {
    getJSON('/api/scenarios').then(function (got) {
      var sel = $('ga-load-name');
      clear(sel);
      got.scenarios.forEach(function (s) {
        var o = el('option', s.name + (s.title && s.title !== s.name ? ' — ' + s.title : '') + ' (' + s.edits + ')');
        o.value = s.name;
        sel.appendChild(o);
      });
      $('ga-load-ok').disabled = !got.scenarios.length;
    });
  }

  function loadSaved() {
    var name = $('ga-load-name').value;
    if (!name) { return; }
    getJSON('/api/scenarios/' + encodeURIComponent(name)).then(function (body) {
      if (body.error) { rejected(body); return; }
      edits = [];
      ['remove', 'move', 'upgrade', 'downgrade', 'add', 'campus', 'road_speed', 'road_add'].forEach(function (kind) {
        (body[kind] || []).forEach(function (item) {
          if (kind === 'add' && /^web-new-(\d+)$/.test(item.id || '')) {
            addCount = Math.max(addCount, Number(/(\d+)$/.exec(item.id)[1]));
          }
          var rec = { kind: kind, items: [item], words: words(kind, item) };
          if (kind === 'road_add') { rec.geom = [[item.from[1], item.from[0]], [item.to[1], item.to[0]]]; }
          edits.push(rec);
        });
      });
      $('ga-save-name').value = body.scenario.name;
      changed();
    });
  }

  function save() {
    var body = scenarioBody();
    body.bundle = $('ga-save-bundle').checked;
    status(T.working);
    postJSON('/api/save', body).then(function (r) {
      if (r.status === 200) {
        status(fmt(T.saved, { folder: r.body.folder, files: r.body.files.join(', ') }));
        listSaved();
      } else { rejected(r.body); }
    });
  }

  // -- start ---------------------------------------------------------------------------------------------
  function start() {
    cfg = JSON.parse($('ga-config').textContent);
    T = cfg.text;
    map = window[cfg.map];
    getJSON('/api/baseline').then(function (got) {
      baseline = got;
      baseline.facilities.forEach(function (f) { byId[f.id] = f; });
      $('ga-title').textContent = baseline.study.title || baseline.study.name;
      if (baseline.study.synthetic) {
        $('ga-synthetic').hidden = false;
        $('ga-synthetic').textContent = baseline.study.synthetic;
      }
      var tierSel = $('ga-add-tier');
      cfg.tiers.forEach(function (t, i) {
        var o = el('option', t.label);
        o.value = t.name;
        if (i === cfg.tiers.length - 2 || cfg.tiers.length === 1) { o.selected = true; }
        tierSel.appendChild(o);
      });
      stackPages();
      map.on('popupopen', onPopupOpen);
      map.on('preclick', onPreclick);
      var radios = document.querySelectorAll('input[name=ga-mode]');
      for (var r = 0; r < radios.length; r++) {
        radios[r].addEventListener('change', function (ev) { if (ev.target.checked) { setMode(ev.target.value); } });
      }
      $('ga-add-ok').addEventListener('click', submitAdd);
      $('ga-add-cancel').addEventListener('click', closeAddForm);
      $('ga-road-ok').addEventListener('click', finishRoad);
      $('ga-road-cancel').addEventListener('click', function () { road = []; drawRoadDraft(); });
      $('ga-undo-last').addEventListener('click', function () { undo(edits.length - 1); });
      $('ga-clear').addEventListener('click', function () { edits = []; changed(); });
      $('ga-save-ok').addEventListener('click', save);
      $('ga-load-ok').addEventListener('click', loadSaved);
      listSaved();
      show(null, 0);
      ui.updates = 0;
      document.body.setAttribute('data-ga-updates', '0');
      ui.ready = true;
      document.body.setAttribute('data-ga-ready', '1');
    }).catch(function (err) { ui.errors += 1; status(String(err)); });
  }

  window.addEventListener('load', start);
}());
