// The dashboard's lease panel for tests/bb/test_dashboard_lease.py, evaluated
// in the page by drive.js ("eval-file"): what an operator sees of the lease.
() => {
  const p = document.getElementById('lease'), b = document.getElementById('banner');
  const log = document.getElementById('log');
  return {
    shown: !!p && !p.hidden,
    role: p ? p.dataset.role || '' : '',
    badge: p ? (p.querySelector('.role') || {}).textContent || '' : '',
    holder: p ? p.dataset.holder || '' : '',
    epoch: p ? Number(p.dataset.epoch) : -1,
    reachable: p ? Number(p.dataset.reachable) : -1,
    text: p && !p.hidden ? p.innerText : '',
    banner: b && !b.hidden ? b.textContent : null,
    observers_shown: !!document.getElementById('observers') && !document.getElementById('observers').hidden,
    log: log ? [...log.children].slice(0, 300).map((li) => ({ type: li.dataset.type, text: li.textContent })) : [],
  };
}
