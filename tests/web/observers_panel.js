// The dashboard's Observers panel for tests/bb/test_dashboard_observers.py,
// evaluated in the page by drive.js ("eval-file"): the grid as an operator sees
// it, the notes, the log, and whether any markup from an item came alive.
() => {
  const p = document.getElementById('observers'), log = document.getElementById('log');
  const heads = p ? [...p.querySelectorAll('#obs-grid tr:first-child th[data-observer]')] : [];
  const cols = {};
  for (const th of heads) {
    cols[th.dataset.observer] = { fresh: th.dataset.fresh, suspect: th.dataset.suspect === 'true',
      self: th.dataset.self === 'true', text: th.innerText, color: getComputedStyle(th).color };
  }
  const cells = {};
  for (const td of p ? p.querySelectorAll('#obs-grid td[data-observer]') : []) {
    const region = td.parentElement.dataset.region;
    (cells[td.dataset.observer] = cells[td.dataset.observer] || {})[region] =
      { state: td.dataset.state, text: td.textContent, stale: td.classList.contains('stale'), title: td.title,
        used: td.dataset.used || null, mark: getComputedStyle(td, '::after').content };
  }
  // each region's last quorum decision as its row's last cell shows it
  const decisions = {};
  for (const td of p ? p.querySelectorAll('#obs-grid tr[data-region] td.odec') : []) {
    decisions[td.parentElement.dataset.region] = { call: td.dataset.call, text: td.textContent };
  }
  return {
    shown: !!p && !p.hidden,
    cols, cells, decisions,
    notes: p ? [...p.querySelectorAll('#obs-notes li')].map((li) => ({ observer: li.dataset.observer, text: li.textContent })) : [],
    text: p && !p.hidden ? p.innerText : '',
    // markup from an item: no element but ours, no handler ran
    foreign: document.querySelectorAll('img, script:not([src="/app.js"]), iframe, svg:not(.spark), [onerror], [onload]').length,
    pwned: window.__pwned || null,
    muted: getComputedStyle(document.documentElement).getPropertyValue('--muted').trim(),
    log: log ? [...log.children].slice(0, 300).map((li) => ({ type: li.dataset.type, text: li.textContent })) : [],
  };
}
