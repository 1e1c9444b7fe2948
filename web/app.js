// regiond ops-room dashboard: /v1/status every 2 s, /v1/events (SSE) for the
// log and instant state changes, /v1/drills when the daemon has it.
'use strict';
(function () {
  const POLL_MS = 2000, SPARK_N = 60, LOG_MAX = 300;
  const EVENT_TYPES = ['daemon_start', 'daemon_stop', 'config_loaded', 'config_error', 'target_state',
    'region_state', 'decision', 'alarm', 'alarm_raised', 'alarm_resolved', 'override_set', 'override_released',
    'override_expired', 'freeze', 'unfreeze', 'audit', 'route53_live', 'route53_change_submitted',
    'route53_change_insync', 'route53_change_visible', 'route53_change_not_visible', 'route53_change_failed',
    'route53_change_refused', 'route53_change_landed', 'route53_change_lost', 'route53_change_stuck',
    'route53_drift', 'replica_finding', 'backup_started', 'backup_available', 'backup_stuck', 'backup_failed',
    'backup_deleted', 'backup_parked', 'backup_resumed', 'pitr_enabled', 'pitr_enable_failed', 'pitr_drift',
    'drill_start', 'drill_dry_run', 'drill_end', 'lease_won', 'lease_lost', 'lease_holder', 'lease_tables',
    'observer_silent', 'observer_suspect', 'quorum_decision', 'gap'];

  const $ = (id) => document.getElementById(id);
  const NB = '\u00a0';          // no-break space: a number and its unit stay on one line
  const spark = new Map();      // region -> [latency ms of probes that got an answer]
  const lagSpark = new Map();   // region -> [replication lag in, ms] (one point per status poll)
  const lastAt = new Map();     // region -> last probe time seen (a new point per new probe)
  const seen = new Set();       // event ids already in the log
  let status = null, es = null, esOpen = false, statusOk = true, lastEventId = 0;
  let drills = null, drillsFetchedAt = 0, drillsMissing = false;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k === 'class') e.className = attrs[k];
      else if (k === 'text') e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    for (const c of kids) if (c != null) e.append(c);
    return e;
  }
  const num = (v) => typeof v === 'number' && isFinite(v);
  function ms(v) {
    if (!num(v)) return '—';
    if (v < 1) return v.toFixed(2) + NB + 'ms';
    if (v < 10) return v.toFixed(1) + NB + 'ms';
    if (v < 10000) return Math.round(v) + NB + 'ms';
    return (v / 1000).toFixed(1) + NB + 's';
  }
  function dur(s) {
    if (!num(s)) return '?';
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + NB + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h' + NB + Math.floor(s % 3600 / 60) + 'm';
    return Math.floor(s / 86400) + 'd' + NB + Math.floor(s % 86400 / 3600) + 'h';
  }
  function clock(t) {
    const d = t ? new Date(t) : new Date();
    if (isNaN(d)) return String(t || '');
    return d.toLocaleTimeString('en-GB', { hour12: false });
  }
  const weight = (w) => (num(w) && w >= 0 ? String(w) : '—');
  const byRegion = (arr, key) => (Array.isArray(arr) ? arr.filter((x) => x && x[key || 'region']) : []);

  // ------------------------------------------------------------ connection
  function setConn() {
    const c = $('conn');
    const live = esOpen && statusOk;
    c.dataset.state = live ? 'live' : 'lost';
    c.textContent = live ? 'live' : 'connection lost, retrying…';
  }

  // ------------------------------------------------------------ status
  async function fetchStatus() {
    try {
      const r = await fetch('/v1/status', { cache: 'no-store' });
      if (!r.ok) throw new Error('status ' + r.status);
      status = await r.json();
      statusOk = true;
      render();
    } catch (e) {
      statusOk = false;
    }
    setConn();
  }

  function render() {
    const s = status;
    if (!s) return;
    const ctl = s.controller || {}, cfg = s.config || {}, fo = s.failover || {};
    $('ctl').textContent = (ctl.id || '?') + (ctl.version ? ' v' + ctl.version : '');
    $('summary').textContent = s.summary || '';
    $('gen').textContent = 'config gen ' + (cfg.generation != null ? cfg.generation : '?');
    // a non-breaking hyphen: "(monitor-only)" stays on one line on a phone
    $('decision').textContent = fo.decision != null
      ? 'decision' + NB + '#' + fo.decision + ' (' + (fo.applies || '?').replace(/-/g, '\u2011') + ')' : '';
    $('updated').textContent = 'updated ' + clock();
    document.title = 'regiond ' + (ctl.id || '') + ' — ' + (s.summary || '');
    renderBanner(fo, cfg, s.alarms || {}, s.lease);
    renderCards(s);
    renderLease(s.lease);
    renderObservers(s.observers, s.regions);
  }

  // Every observer's view side by side (docs/ha.md "Observers"): hidden
  // without cluster.quorum.  The views come from other instances' items:
  // every text goes in through textContent (el, words), never as HTML.
  function renderObservers(o, regions) {
    const p = $('observers'), grid = $('obs-grid'), notes = $('obs-notes');
    const vs = o && Array.isArray(o.views) ? o.views.filter((v) => v && v.observer) : [];
    if (!vs.length) { p.hidden = true; return; }
    p.hidden = false;
    $('obs-k').textContent = 'k' + NB + o.k + ' of ' + o.n + (o.quorum_applied ? '' : ' (shown only)');
    const names = (regions || []).map((r) => r.name);
    for (const v of vs) for (const r of v.regions || []) if (r.region && !names.includes(r.region)) names.push(r.region);
    const head = el('tr', null, el('th', { text: 'region' }));
    grid.replaceChildren(head);
    // each region's last quorum decision (a call or a refusal) and how it took each view
    const qr = o.quorum && Array.isArray(o.quorum.regions) ? o.quorum.regions : [];
    const lastOf = (name) => {
      const x = qr.find((r) => r && r.region === name);
      return x && x.last_decision && typeof x.last_decision === 'object' && Array.isArray(x.last_decision.views)
        ? x.last_decision : null;
    };
    notes.replaceChildren();
    for (const v of vs) {
      const st = !v.seen ? 'never' : v.fresh ? 'fresh' : 'silent';
      const th = el('th', { 'data-observer': v.observer, 'data-fresh': st, 'data-suspect': String(!!v.suspect) },
        el('div', { class: 'oname', text: v.observer + (v.self ? ' (this)' : '') }),
        el('div', { class: 'ostate', text: st === 'never' ? 'never seen' : st === 'silent' ? 'silent ' + dur(v.age_ms / 1000) : 'fresh' }));
      if (v.self) th.dataset.self = 'true';
      if (v.suspect) th.append(el('div', { class: 'osus', text: 'suspect' }));
      head.append(th);
      const note = (what, why, cls) => notes.append(el('li', { class: cls || '', 'data-observer': v.observer },
        el('strong', { text: v.observer + ': ' }), what + (why ? ' — ' + why : '')));
      if (v.suspect) note('suspect', v.suspect_reason, 'bad');
      if (st === 'silent') note('silent', 'no change for ' + dur(v.age_ms / 1000) + ' (silent after ' + dur(o.silent_after_ms / 1000) + ')');
      if (st === 'never') note('never seen', '');
      if (v.refused) note('item refused', v.refused, 'bad');
      if (v.ignored) note('item ignored in some tables', v.ignored, 'bad');
      if (v.read_error) note('read failed', v.read_error, 'bad');
    }
    if (o.quorum) head.append(el('th', { class: 'odec', text: 'last decision' }));
    for (const name of names) {
      const tr = el('tr', { 'data-region': name }, el('th', { text: name }));
      const last = lastOf(name);
      for (const v of vs) {
        const r = (v.regions || []).find((x) => x.region === name);
        const state = r ? (['up', 'degraded', 'down', 'unknown'].includes(r.state) ? r.state : 'unknown') : 'none';
        const td = el('td', { 'data-observer': v.observer, 'data-state': state, text: r ? state : '—' });
        if (r && r.reason) td.title = r.reason;
        if (!v.fresh) td.classList.add('stale');
        const u = last ? last.views.find((x) => x && x.observer === v.observer) : null;
        if (u) {   // ✓ counted by the region's last decision, ✗ left out (why in data-used)
          td.dataset.used = u.counted ? 'counted' : String(u.left_out || 'left-out');
          td.classList.add(u.counted ? 'used' : 'leftout');
        }
        tr.append(td);
      }
      if (o.quorum) tr.append(el('td', { class: 'odec', 'data-call': last ? String(last.call) : 'none', text: decisionText(last) }));
      grid.append(tr);
    }
  }

  // "drain refused (no-quorum): counted ctl-1 down; left out ctl-2 silent, ctl-3 silent"
  function decisionText(d) {
    if (!d) return '—';
    if (d.call === 'forgotten') return 'forgotten (' + d.from + ' to ' + d.to + '): ' + (d.reason || '');
    const counted = d.views.filter((x) => x && x.counted).map((x) => x.observer + ' ' + x.vote).join(', ') || 'none';
    const left = d.views.filter((x) => x && !x.counted).map((x) => x.observer + ' ' + x.left_out).join(', ');
    return (d.call === 'refused' ? d.would + ' refused' : 'called ' + d.call) + ' (' + d.why + ', k' + NB + d.k + ')' +
      ': counted ' + counted + (left ? '; left out ' + left : '');
  }

  // The cluster lease (docs/ha.md): hidden without a cluster section.
  function renderLease(l) {
    const p = $('lease'), dl = $('lease-rows'), role = $('lease-role');
    if (!l || !l.enabled) { p.hidden = true; return; }
    const h = l.holder, tables = Array.isArray(l.tables) ? l.tables : [];
    const r = l.leading ? 'leading' : h ? 'following' : 'none';
    p.hidden = false;
    p.dataset.role = r;
    p.dataset.holder = h ? h.id : '';
    p.dataset.epoch = String(h ? h.epoch : 0);
    p.dataset.reachable = String(l.reachable);
    role.dataset.role = r;
    role.textContent = r === 'leading' ? 'leading' : r === 'following' ? 'following' : 'no leader';
    dl.replaceChildren();
    const kv = (k, v, cls) => dl.append(el('dt', null, words(k)), el('dd', cls ? { class: cls } : null, words(v)));
    kv('this instance', (l.instance_id || '?') + (l.leading ? ' — leading, epoch' + NB + l.epoch : ' — following'));
    if (h) kv('holder', h.id + ' (epoch' + NB + h.epoch + ')' + (h.advertise ? ' at ' + h.advertise : '') +
      (h.since ? ' since ' + clock(h.since) : ''));
    else kv('holder', 'none: no instance holds a majority of the lease tables', 'bad');
    kv('tables', l.reachable + ' of ' + tables.length + ' reachable (majority' + NB + l.majority + ')',
      l.reachable < l.majority ? 'bad' : '');
    for (const t of tables.filter((t) => !t.reachable))
      kv(t.region || '?', (t.table || '') + ' unreachable' + (t.last_error ? ': ' + t.last_error : ''), 'bad');
  }

  function renderBanner(fo, cfg, alarms, lease) {
    const b = $('banner'), lines = [];
    let level = '';
    if (lease && lease.enabled && !lease.holder) {
      level = 'warn';
      lines.push(['NO LEADER — no instance holds the lease: nothing is changed or sent',
        lease.reachable + ' of ' + (lease.tables || []).length + ' lease tables reachable, ' + lease.majority + ' needed']);
    }
    const res = (alarms.active || []).find(a => a.key === 'controller-resources');
    if (res) {
      level = 'warn';
      lines.push(['CONTROLLER SHORT OF RESOURCES — regiond itself, not a region: region health is left as it was', res.summary || '']);
    }
    if (fo.alarm) {
      level = 'alarm';
      lines.push(['FAILOVER ALARM — fail open (all-zero guard): Route 53 weights held', fo.reason]);
    }
    if (fo.frozen) {
      level = level || 'warn';
      lines.push(['FROZEN — weights will not change until unfrozen', fo.reason && !fo.alarm ? fo.reason : '']);
    }
    if (fo.dry_run) {
      level = level || 'warn';
      lines.push(['DRY RUN — decisions are computed but not applied', '']);
    }
    if (fo.last_error) { level = level || 'warn'; lines.push(['Route 53 error', fo.last_error]); }
    if (cfg.last_error) { level = level || 'warn'; lines.push(['Config reload rejected (running the last good config)', cfg.last_error]); }
    b.replaceChildren();
    if (!lines.length) { b.hidden = true; b.dataset.level = ''; return; }
    for (const [head, why] of lines) b.append(el('p', null, head, why ? el('span', { class: 'why', text: ' — ' + why }) : null));
    b.dataset.level = level;
    b.dataset.alarm = String(!!fo.alarm);
    b.dataset.controllerResources = String(!!res);
    b.dataset.frozen = String(!!fo.frozen);
    b.dataset.dryRun = String(!!fo.dry_run);
    b.hidden = false;
  }

  function pushSpark(r) {
    const targets = r.targets || [];
    let at = '', v = null;
    for (const t of targets) {
      const last = t.last || {}, tm = last.timings_ms || {};
      if (last.at && last.at > at) at = last.at;
      // Only a probe that got an HTTP answer has a latency (a refused connect has none).
      const x = last.http_status > 0 && num(tm.total) ? tm.total : null;
      if (x != null) v = v == null ? x : Math.max(v, x);
    }
    if (v == null || at === lastAt.get(r.name)) return;
    lastAt.set(r.name, at);
    const a = spark.get(r.name) || [];
    a.push(v);
    while (a.length > SPARK_N) a.shift();
    spark.set(r.name, a);
  }

  function pushLag(s) {
    const d = s.dynamodb;
    for (const rr of d ? byRegion(d.regions) : []) {
      if (!num(rr.lag_in_ms)) continue;
      const a = lagSpark.get(rr.region) || [];
      a.push(rr.lag_in_ms);
      while (a.length > SPARK_N) a.shift();
      lagSpark.set(rr.region, a);
    }
  }

  // One sparkline with its heading; "no data" (not a flat line of zeros) when there is none.
  function sparkBox(kind, what, a, why) {
    const box = el('div', { class: 'sparkbox', 'data-spark': kind });
    if (!a.length) {
      box.append(el('div', { class: 'sparkhead', text: what + ': no data' }),
        el('div', { class: 'nodata', text: why }));
      return box;
    }
    box.append(el('div', { class: 'sparkhead', text: what + ' ' + ms(a[a.length - 1]) + ' (' + a.length + ' points)' }),
      sparkSvg(a, what));
    return box;
  }

  function sparkSvg(a, what) {
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'spark');
    const n = Math.max(a.length - 1, 1);
    svg.setAttribute('viewBox', '0 0 ' + n + ' 30');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    const max = Math.max(...a, 0.001), min = Math.min(...a, max);
    svg.setAttribute('aria-label', what + ', last ' + a.length + ' points: ' + ms(min) + ' to ' + ms(max));
    const pts = a.map((v, i) => i + ',' + (28 - ((v - min) / ((max - min) || 1)) * 26).toFixed(1));
    if (pts.length === 1) pts.push('1,' + pts[0].split(',')[1]);
    const pl = document.createElementNS(NS, 'polyline');
    pl.setAttribute('points', pts.join(' '));
    svg.append(pl);
    return svg;
  }

  // Text that may wrap only at its spaces: each word in a nowrap span, so a region
  // name is never split at its hyphens ("ap-south / east-2").
  function words(text) {
    const f = document.createDocumentFragment();
    String(text).split(' ').forEach((w, i) => {
      if (i) f.append(' ');
      if (w) f.append(el('span', { class: 'w', text: w }));
    });
    return f;
  }

  function row(dl, k, v, cls) {
    if (v == null || v === '') return;
    dl.append(el('dt', null, words(k)), el('dd', cls ? { class: cls } : null, typeof v === 'string' ? words(v) : v));
  }

  function renderCards(s) {
    const box = $('cards'), fo = s.failover || {}, ddb = s.dynamodb;
    const weights = new Map(byRegion(fo.weights).map((w) => [w.region, w]));
    const overrides = byRegion(fo.overrides);
    const keep = new Set();
    pushLag(s);
    for (const r of s.regions || []) {
      keep.add(r.name);
      pushSpark(r);
      let card = box.querySelector('.card[data-region="' + CSS.escape(r.name) + '"]');
      if (!card) {
        card = el('article', { class: 'card', 'data-region': r.name });
        box.append(card);
      }
      const state = ['up', 'degraded', 'down', 'unknown'].includes(r.state) ? r.state : 'unknown';
      card.dataset.state = state;
      card.replaceChildren();
      card.append(el('h3', { text: r.name }));
      card.append(el('div', { class: 'state', text: state }));
      card.append(el('p', { class: 'reason', text: r.reason || '' }));
      const dl = el('dl');
      row(dl, 'since', clock(r.since) + ' (' + dur(r.since_s) + ' ago)');
      const w = weights.get(r.name);
      if (w) {
        const wv = el('span', { class: 'weights', text: 'live' + NB + weight(w.live) + ' → desired' + NB + weight(w.desired) });
        const dd = el('span', null, wv);
        if (w.drifted) dd.append(el('span', { class: 'flag', text: 'DRIFTED' }));
        if (num(w.live) && num(w.desired) && w.live >= 0 && w.live !== w.desired) dd.append(el('span', { class: 'flag', text: 'PENDING' }));
        row(dl, 'weight', dd);
      }
      for (const o of overrides.filter((o) => o.region === r.name))
        row(dl, 'override', (o.action || '?') + (num(o.weight) ? ' ' + o.weight : '') + (o.note ? ' — ' + o.note : ''), 'bad');
      for (const t of r.targets || []) {
        const l = t.latency_ms || {};
        const label = (r.targets.length > 1 ? t.name + ' ' : '') + 'p50 / p99';
        // No figure at all until a probe got an answer (the status then has no samples).
        const lat = num(l.p50) ? ms(l.p50) + ' / ' + ms(l.p99) : 'no answer yet';
        row(dl, label, lat + (t.state && t.state !== 'up' ? ' (' + t.state + ': ' + (t.reason || '') + ')' : ''));
      }
      if (ddb) renderDdb(dl, ddb, r.name);
      card.append(dl);
      card.append(el('div', { class: 'sparks' },
        sparkBox('latency', 'latency', spark.get(r.name) || [], 'no answered probe'),
        sparkBox('lag', 'replication lag', lagSpark.get(r.name) || [], ddb ? 'no lag measured' : 'DynamoDB not configured')));
    }
    for (const c of [...box.querySelectorAll('.card')]) if (!keep.has(c.dataset.region)) c.remove();
    balanceCards();
  }

  // As many columns as fit (a card needs CARD_MIN_PX), then as few as keep the same
  // number of rows: 5 regions wrap as 3 + 2, 4 as 2 + 2 or 4, never 4 + 1.
  const CARD_MIN_PX = 270;
  function balanceCards() {
    const box = $('cards'), n = box.children.length;
    if (!n) return;
    const gap = parseFloat(getComputedStyle(box).columnGap) || 0;
    const fit = Math.max(1, Math.floor((box.clientWidth + gap) / (CARD_MIN_PX + gap)));
    const rows = Math.ceil(n / Math.min(fit, n));
    const cols = Math.ceil(n / rows);
    box.style.gridTemplateColumns = 'repeat(' + cols + ', minmax(0, 1fr))';
    // A card too narrow for its label and value side by side puts the label above.
    for (const dl of box.querySelectorAll('.card dl')) {
      dl.classList.remove('stack');
      if (dl.scrollWidth > dl.clientWidth + 1) dl.classList.add('stack');
    }
  }
  window.addEventListener('resize', balanceCards);

  function renderDdb(dl, d, name) {
    const rr = byRegion(d.regions).find((x) => x.region === name);
    if (rr) {
      row(dl, 'replication lag in', ms(rr.lag_in_ms) + (rr.gate_ok === false ? ' (gate: not safe)' : ''), rr.gate_ok === false ? 'bad' : '');
      if (rr.finding) row(dl, 'replica', rr.finding, 'bad');
      if (rr.write_error) row(dl, 'heartbeat', rr.write_error, 'bad');
    }
    for (const p of (Array.isArray(d.pairs) ? d.pairs : []).filter((p) => p.to === name))
      row(dl, 'lag from ' + p.from, ms(p.lag_ms) + (num(p.lag_avg_ms) ? ' (avg ' + ms(p.lag_avg_ms) + ')' : '') + (p.read_error ? ' — ' + p.read_error : ''), p.read_error ? 'bad' : '');
    for (const b of byRegion(d.backups).filter((b) => b.region === name)) {
      const failed = /fail|stuck|miss|error/i.test(b.last_result || '');
      row(dl, 'backup ' + (b.schedule || ''), (b.last_result || 'not run yet') + (b.last_run ? ' at ' + clock(b.last_run) : '') +
        (b.next_run ? '; next ' + clock(b.next_run) : '') + (b.parked ? ' — ' + b.park_reason : ''), failed ? 'bad' : '');
    }
    for (const p of byRegion(d.pitr).filter((p) => p.region === name)) {
      const win = p.earliest_restorable ? clock(p.earliest_restorable) + ' … ' + clock(p.latest_restorable) +
        (num(p.latest_age_s) ? ' (latest ' + dur(p.latest_age_s) + ' ago)' : '') : '';
      row(dl, 'PITR', (p.status || '?') + (win ? ': ' + win : '') + (p.alarm ? ' — ' + (p.alarm_reason || 'alarm') : ''), p.alarm ? 'bad' : '');
    }
  }

  // ------------------------------------------------------------ events
  function kv(d, skip) {
    const out = [];
    for (const k in d) {
      if (skip.includes(k)) continue;
      const v = d[k];
      if (v == null || typeof v === 'object') continue;
      out.push(k + '=' + v);
    }
    return out.join(' ');
  }
  function mapStr(o) {
    return o && typeof o === 'object' ? Object.keys(o).map((k) => k + ': ' + o[k]).join(', ') : '';
  }

  function describe(e) {
    const t = e.type || '?';
    const skip = ['id', 'time', 'type'];
    if (t === 'region_state') return [e.region + ' ' + e.from + ' → ' + e.to + (e.reason ? ' (' + e.reason + ')' : ''),
      e.to === 'down' ? 'bad' : e.to === 'up' ? 'ok' : 'warn'];
    if (t === 'target_state') return [e.region + '/' + e.target + ' ' + e.from + ' → ' + e.to + (e.reason ? ' (' + e.reason + ')' : ''),
      e.to === 'down' ? 'bad' : e.to === 'up' ? 'ok' : 'warn'];
    if (t === 'decision') {
      return ['#' + e.decision + ' ' + (e.rule || '') + ' [' + (e.applied || '') + ']: ' + (e.reason || ''),
        e.alarm ? 'bad' : ''];
    }
    if (t === 'alarm') return [(e.active ? 'RAISED: ' : 'cleared: ') + (e.reason || ''), e.active ? 'bad' : 'ok'];
    if (t === 'route53_live') return ['live weights ' + mapStr(kv2(e, skip)), ''];
    if (t.startsWith('route53_change')) {
      const sev = /failed|lost|stuck|not_visible/.test(t) ? 'bad' : /visible|insync|landed/.test(t) ? 'ok' : '';
      return ['decision #' + e.decision + ' ' + (e.status || '') + ' ' + mapStr(e.weights) +
        (e.dns ? ' dns: ' + e.dns : '') + (e.error ? ' error: ' + e.error : ''), sev];
    }
    if (t === 'route53_drift') return [e.region + ': expected ' + e.expected_weight + ', live ' + e.live_weight + (e.corrected ? ' (correcting)' : ''), 'warn'];
    if (t === 'replica_finding') return [e.region + ': ' + e.finding, e.active ? 'bad' : 'ok'];
    if (t.startsWith('backup_')) return [(e.region || '') + ' ' + (e.schedule || '') + ' ' + (e.name || '') + (e.detail ? ' — ' + e.detail : ''),
      /failed|stuck/.test(t) ? 'bad' : t === 'backup_parked' ? 'warn' : t === 'backup_available' ? 'ok' : ''];
    if (t.startsWith('pitr_')) return [(e.region || '') + ' ' + (e.table || '') + (e.detail ? ' — ' + e.detail : ''), /failed|drift/.test(t) ? 'bad' : 'ok'];
    if (t.startsWith('drill_')) return [[e.region, e.action, e.state, e.dry_run ? '(dry run)' : '', e.note ? '— ' + e.note : '']
      .filter(Boolean).join(' ') || kv(e, skip), 'warn'];
    if (t === 'lease_won') return [e.instance + ' leads, epoch ' + e.epoch + ' (' + e.held + ' of ' + e.tables + ' tables)', 'ok'];
    if (t === 'lease_lost') return [e.instance + ' stopped leading epoch ' + e.epoch + (e.why ? ': ' + e.why : ''), 'bad'];
    if (t === 'lease_holder') return [e.holder ? 'holder ' + e.holder + ' (epoch ' + e.epoch + ')' + (e.advertise ? ' at ' + e.advertise : '')
      : 'no holder: nobody leads', e.holder ? '' : 'warn'];
    if (t === 'lease_tables') return [e.reachable + ' of ' + e.tables + ' lease tables reachable' +
      (Array.isArray(e.unreachable) && e.unreachable.length ? '; down: ' + e.unreachable.map((u) => u.region + (u.error ? ' (' + u.error + ')' : '')).join(', ') : ''),
      e.reachable < e.majority ? 'bad' : e.reachable < e.tables ? 'warn' : 'ok'];
    const who = e.observer + (e.self ? ' (this instance)' : '');
    if (t === 'observer_silent') return [e.silent ? who + "'s view is silent: " + (e.seen ? 'no change for ' + dur(e.age_ms / 1000)
      : 'never seen') : who + "'s view is fresh again", e.silent ? 'warn' : 'ok'];
    if (t === 'observer_suspect') return [e.suspect ? who + "'s view is suspect: " + (e.reason || '')
      : who + "'s view is no longer suspect", e.suspect ? 'warn' : 'ok'];
    if (t === 'quorum_decision') {
      if (e.call === 'forgotten') return [e.region + ' forgotten (' + e.from + ' to ' + e.to + '): ' + (e.reason || ''), 'warn'];
      const vs = Array.isArray(e.views) ? e.views : [];
      const used = vs.filter((v) => v.counted).map((v) => v.observer + ' ' + v.vote).join(', ') || 'none';
      const left = vs.filter((v) => !v.counted).map((v) => v.observer + ' ' + v.left_out).join(', ');
      const what = e.call === 'refused' ? e.would + ' of ' + e.region + ' refused (' + e.why + ')'
        : e.region + ' called ' + e.call + ' by quorum';
      return [what + ': counted ' + used + (left ? '; left out ' + left : ''),
        e.call === 'refused' ? 'warn' : e.call === 'down' ? 'bad' : 'ok'];
    }
    if (t === 'config_error' || t === 'gap') return [kv(e, skip), 'bad'];
    if (t === 'freeze' || t.startsWith('override_')) return [kv(e, skip), 'warn'];
    return [kv(e, skip), ''];
  }
  function kv2(e, skip) {
    const o = {};
    for (const k in e) if (!skip.includes(k)) o[k] = e[k] < 0 ? '—' : e[k];
    return o;
  }

  function addLog(e) {
    const id = Number(e.id);
    if (num(id)) {
      if (seen.has(id)) return;
      seen.add(id);
      if (id > lastEventId) lastEventId = id;
    }
    let text, sev;
    try { [text, sev] = describe(e); } catch (x) { text = JSON.stringify(e); sev = ''; }
    const li = el('li', { 'data-type': e.type || '', 'data-id': String(e.id || '') });
    if (sev) li.dataset.sev = sev;
    li.append(el('time', { datetime: e.time || '', text: clock(e.time) }), el('span', { class: 't', text: e.type || '?' }), text);
    const log = $('log');
    // newest first: insert before the first entry with a smaller id
    let before = log.firstChild;
    while (before && num(id) && Number(before.dataset.id) > id) before = before.nextSibling;
    log.insertBefore(li, before);
    while (log.children.length > LOG_MAX) {
      const last = log.lastChild;
      seen.delete(Number(last.dataset.id));
      last.remove();
    }
  }

  function onEvent(m) {
    let e;
    try { e = JSON.parse(m.data); } catch (x) { return; }
    if (!e.type) e.type = m.type;
    if (e.id == null && m.lastEventId) e.id = m.lastEventId;
    addLog(e);
    // Apply what the event says at once; the next poll fills in the rest.
    if (e.type === 'region_state' && status && status.regions) {
      const r = status.regions.find((x) => x.name === e.region);
      if (r) { r.state = e.to; r.reason = e.reason; r.since = e.time; r.since_s = 0; render(); }
    }
    if (['decision', 'alarm', 'alarm_raised', 'alarm_resolved', 'freeze', 'unfreeze', 'config_loaded'].includes(e.type) || e.type.startsWith('route53_') ||
      e.type.startsWith('lease_') || e.type.startsWith('observer_')) fetchStatus();
    if (e.type.startsWith('drill_')) fetchDrills(true);
  }

  function connect(from) {
    if (es) es.close();
    const at = from != null ? from : lastEventId;
    const url = '/v1/events' + (at != null ? '?last_event_id=' + at : '');
    es = new EventSource(url);
    es.onopen = () => { esOpen = true; fetchStatus(); };
    es.onerror = () => {
      esOpen = false;
      setConn();
      // The browser retries by itself while CONNECTING; if it gave up, start over.
      if (es.readyState === EventSource.CLOSED) setTimeout(() => connect(), 2000);
    };
    es.onmessage = onEvent;
    for (const t of EVENT_TYPES) es.addEventListener(t, onEvent);
  }

  // ------------------------------------------------------------ drills
  async function fetchDrills(force) {
    const now = Date.now();
    if (!force && drillsMissing && now - drillsFetchedAt < 30000) return;
    drillsFetchedAt = now;
    try {
      const r = await fetch('/v1/drills', { cache: 'no-store' });
      if (r.status === 404) { drillsMissing = true; drills = null; }
      else if (r.ok) {
        drillsMissing = false;
        const j = await r.json();
        drills = Array.isArray(j) ? j : (j && Array.isArray(j.drills) ? j.drills : []);
      }
    } catch (x) { /* keep the last answer */ }
    renderDrills();
  }

  function renderDrills() {
    const p = $('drills'), ul = $('drill-list');
    if (drills == null) { p.hidden = true; return; }
    p.hidden = false;
    ul.replaceChildren();
    if (!drills.length) { ul.append(el('li', { class: 'empty', text: 'no active drill' })); return; }
    for (const d of drills) {
      const left = d.expires_at ? (Date.parse(d.expires_at) - Date.now()) / 1000 : NaN;
      const li = el('li', { 'data-drill': String(d.id || ''), 'data-region': d.region || '' });
      li.append(el('div', null, el('strong', { text: (d.region || '?') + ' — ' + (d.action || '?') }),
        ' ' + (d.state || '') + (d.dry_run ? ' (dry run)' : '')));
      li.append(el('div', { class: 'countdown', text: num(left) ? (left > 0 ? dur(left) + ' left' : 'expiring…') : 'no expiry' }));
      if (d.note) li.append(el('div', { class: 'muted', text: d.note }));
      ul.append(li);
    }
  }

  // ------------------------------------------------------------ start
  setConn();
  fetchStatus().then(() => {
    // Start the log with up to the last 100 events the daemon still holds.
    const ev = status && status.events;
    connect(ev && num(ev.last_id) ? Math.max((ev.first_id || 1) - 1, ev.last_id - 100, 0) : null);
  });
  fetchDrills(true);
  setInterval(fetchStatus, POLL_MS);
  setInterval(fetchDrills, POLL_MS);
  setInterval(renderDrills, 1000);
})();
