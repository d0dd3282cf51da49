/* geoaccess serve: what-if in the browser (issue 16).
 *
 * Reads the page's configuration (#ga-config), the baseline (/api/baseline) and the county outlines
 * (/api/geometry); draws counties and facilities on the folium map; keeps the planner's edits as a list and
 * posts them, whole, to /api/scenario after each change; shows the answer in the panel.
 * Every text from the study or the planner goes in with textContent: nothing is parsed as HTML.
 * window.geoaccessServe holds counters a test or a benchmark reads (updates, lastEditMs).
 */
(function () {
  'use strict';

  var ui = { updates: 0, lastEditMs: null, lastServerMs: null, errors: 0, ready: false };
  window.geoaccessServe = ui;

  var cfg, T, map, baseline, counties, geometryLayer, facilityLayer, addedLayer, pickMarker;
  var byId = {};                 // baseline facilities by id
  var markers = {};              // their circle markers by id
  var edits = [];                // [{kind, id, item, words}] in the order made
  var addCount = 0;
  var current = null;            // the last scenario answer (null: the baseline)
  var seq = 0, shown = 0, inflight = false, queued = false, clickedAt = null;
  var canvas;
  var picking = null;            // {kind: 'move' | 'campus', f}: the next map click is that edit's new site

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
      (body[e.kind] = body[e.kind] || []).push(e.item);
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

  function addEdit(kind, item) {
    // one edit per existing facility (campuses aside): a new one replaces the old
    if (kind !== 'add' && kind !== 'campus') {
      edits = edits.filter(function (e) { return e.kind === 'add' || e.kind === 'campus' || e.item.id !== item.id; });
    }
    edits.push({ kind: kind, item: item, words: words(kind, item) });
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

  // -- drawing -----------------------------------------------------------------------------------------
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
    styleCounties();
    drawFacilityChanges(answer ? answer.facilities : []);
    ui.updates += 1;
    if (clickedAt !== null) { ui.lastEditMs = performance.now() - clickedAt; }
    ui.lastServerMs = answer ? answer.timings.request * 1000 : null;
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

  function countyRow(code) {
    var rows = current ? current.counties : baseline.counties;
    for (var i = 0; i < rows.length; i++) { if (rows[i].county_code === code) { return rows[i]; } }
    return null;
  }

  function withinChange(code, tier) {
    if (!current) { return 0; }
    var ch = current.changes;
    for (var i = 0; i < ch.length; i++) {
      if (ch[i].county_code === code && ch[i].tier === tier) { return ch[i].people_within_change; }
    }
    return 0;
  }

  function styleCounties() {
    var mode = $('ga-colour').value;
    geometryLayer.setStyle(function (feature) {
      var code = feature.properties.county_code;
      var row = countyRow(code);
      if (mode === 'zone') {
        return { color: '#333', weight: 1, fillOpacity: 0.35, fillColor: row ? cfg.colors.zone[row.zone] || '#999' : '#999' };
      }
      var d = withinChange(code, mode);  // gains green, losses red, no change clear
      return { color: '#333', weight: 1, fillOpacity: d ? 0.55 : 0,
        fillColor: d > 0 ? '#1a9850' : d < 0 ? '#d73027' : '#ffffff' };
    });
  }

  function countyTooltip(layer) {
    var code = layer.feature.properties.county_code;
    var row = countyRow(code);
    var box = el('div');
    box.appendChild(el('b', layer.feature.properties.county_name));
    if (row) {
      box.appendChild(el('div', zoneLabel(row.zone)));
      cfg.tiers.forEach(function (t) {
        box.appendChild(el('div', t.label + ': ' + num(100 * row[t.name + '_share_within'], 1) + '% · ' +
          row[t.name + '_status']));
      });
    }
    return box;
  }

  function facilityStyle(f, change) {
    var rank = Math.max(0, tierRank(f.tier));
    var color = cfg.colors.tier[rank] || '#333';
    var s = { radius: 3 + 2 * rank, color: color, weight: 1, fillColor: color, fillOpacity: 0.85, renderer: canvas };
    if (change === 'removed') { s.fillColor = '#ffffff'; s.color = '#777'; s.fillOpacity = 0.6; }
    if (change === 'upgraded' || change === 'downgraded') { s.weight = 3; s.color = '#000'; }
    return s;
  }

  function drawFacilityChanges(rows) {
    // reset baseline markers, then mark those the answer changed; added sites get their own layer
    Object.keys(markers).forEach(function (id) {
      if (markers[id]._gaChange) { markers[id].setStyle(facilityStyle(byId[id], null)); markers[id]._gaChange = null; }
    });
    addedLayer.clearLayers();
    rows.forEach(function (r) {
      if (r.change === 'moved' && markers[r.id]) {  // the old site greyed, the new one drawn as an addition
        markers[r.id]._gaChange = r.change;
        markers[r.id].setStyle(facilityStyle({ tier: r.tier }, 'removed'));
      }
      if (r.change === 'added' || r.change === 'campus' || r.change === 'moved') {
        var m = L.circleMarker([r.lat, r.lon], { radius: 4 + 2 * Math.max(0, tierRank(r.tier)), color: '#000',
          weight: 2, fillColor: '#1a9850', fillOpacity: 0.95, renderer: canvas });
        m.on('click', function (ev) { L.DomEvent.stopPropagation(ev); addedPopup(m, r); });
        m.bindTooltip(function () { return el('span', r.name); });
        addedLayer.addLayer(m);
      } else if (markers[r.id]) {
        markers[r.id]._gaChange = r.change;
        var f = { tier: r.tier };
        markers[r.id].setStyle(facilityStyle(f, r.change));
      }
    });
  }

  // -- popups and the add form -------------------------------------------------------------------------
  function button(text, action) {
    var b = el('button', text);
    b.type = 'button';
    b.addEventListener('click', function (ev) { L.DomEvent.stopPropagation(ev); action(); });
    return b;
  }

  function facilityPopup(marker, f) {
    var box = el('div', null, 'ga-popup');
    box.appendChild(el('b', f.name));
    box.appendChild(el('div', tierLabel(f.tier) + ' · ' + fmt(T.beds_n, { beds: num(f.beds) }) + ' · ' + f.id));
    var rank = tierRank(f.tier);
    var edited = -1;
    edits.forEach(function (e, i) { if (e.kind !== 'add' && e.item.id === f.id) { edited = i; } });
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
    L.popup().setLatLng(marker.getLatLng()).setContent(box).openOn(map);
  }

  function addedPopup(marker, r) {
    var box = el('div', null, 'ga-popup');
    box.appendChild(el('b', r.name));
    box.appendChild(el('div', tierLabel(r.tier) + ' · ' + fmt(T.beds_n, { beds: num(r.beds) })));
    box.appendChild(button(r.change === 'moved' ? T.undo : T.remove_new, function () {
      for (var i = 0; i < edits.length; i++) {
        var it = edits[i].item;
        if (it.id === r.id || (edits[i].kind === 'campus' && r.change === 'campus' && it.of === r.parent_id &&
            Math.abs(it.lon - r.lon) < 1e-5 && Math.abs(it.lat - r.lat) < 1e-5)) { undo(i); return; }
      }
    }));
    L.popup().setLatLng(marker.getLatLng()).setContent(box).openOn(map);
  }

  function pick(kind, f) {
    map.closePopup();
    closeAddForm();
    picking = { kind: kind, f: f };
    status(fmt(T['pick_' + kind], { name: f.name }));
  }

  function mapClick(latlng) {
    if (!picking) { openAddForm(latlng); return; }
    var p = picking;
    picking = null;
    if (p.kind === 'move') {
      addEdit('move', { id: p.f.id, lon: latlng.lng, lat: latlng.lat });
    } else {  // a campus takes half the hospital's beds (一院多区: beds move, they do not grow)
      addEdit('campus', { of: p.f.id, lon: latlng.lng, lat: latlng.lat, beds: Math.round(p.f.beds / 2) });
    }
  }

  function openAddForm(latlng) {
    var form = $('ga-add');
    form.hidden = false;
    form.setAttribute('data-lon', String(latlng.lng));
    form.setAttribute('data-lat', String(latlng.lat));
    $('ga-add-where').textContent = latlng.lng.toFixed(4) + ', ' + latlng.lat.toFixed(4);
    if (pickMarker) { map.removeLayer(pickMarker); }
    pickMarker = L.circleMarker(latlng, { radius: 8, color: '#000', weight: 2, dashArray: '3,3', fill: false })
      .addTo(map);
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
    var item = { lon: Number(form.getAttribute('data-lon')), lat: Number(form.getAttribute('data-lat')),
      tier: tier, beds: isFinite(beds) ? beds : 0, name: name, id: 'web-new-' + addCount };
    closeAddForm();
    $('ga-add-name').value = '';
    addEdit('add', item);
  }

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
          edits.push({ kind: kind, item: item, words: words(kind, item) });
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
    canvas = L.canvas({ padding: 0.5 });
    Promise.all([getJSON('/api/baseline'), getJSON('/api/geometry')]).then(function (got) {
      baseline = got[0];
      counties = got[1];
      $('ga-title').textContent = baseline.study.title || baseline.study.name;
      if (baseline.study.synthetic) {
        $('ga-synthetic').hidden = false;
        $('ga-synthetic').textContent = baseline.study.synthetic;
      }
      var tierSel = $('ga-add-tier');
      var colour = $('ga-colour');
      var opt = el('option', T.by_zone);
      opt.value = 'zone';
      colour.appendChild(opt);
      cfg.tiers.forEach(function (t, i) {
        var o = el('option', t.label);
        o.value = t.name;
        if (i === cfg.tiers.length - 2 || cfg.tiers.length === 1) { o.selected = true; }
        tierSel.appendChild(o);
        var c = el('option', fmt(T.by_change, { tier: t.label }));
        c.value = t.name;
        colour.appendChild(c);
      });
      colour.addEventListener('change', styleCounties);
      // one canvas for counties and facilities: facilities are drawn last, so a click on one is the facility's
      geometryLayer = L.geoJSON(counties, { renderer: canvas, style: { color: '#333', weight: 1, fillOpacity: 0.3 } })
        .addTo(map);
      geometryLayer.eachLayer(function (layer) { layer.bindTooltip(countyTooltip, { sticky: true }); });
      facilityLayer = L.featureGroup().addTo(map);
      addedLayer = L.featureGroup().addTo(map);
      baseline.facilities.forEach(function (f) {
        byId[f.id] = f;
        var m = L.circleMarker([f.lat, f.lon], facilityStyle(f, null));
        m.on('click', function (ev) { L.DomEvent.stopPropagation(ev); facilityPopup(m, f); });
        m.bindTooltip(function () { return el('span', f.name); });
        markers[f.id] = m;
        facilityLayer.addLayer(m);
      });
      map.on('click', function (ev) { mapClick(ev.latlng); });
      $('ga-add-ok').addEventListener('click', submitAdd);
      $('ga-add-cancel').addEventListener('click', closeAddForm);
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
