// Layout checks for tests/bb/test_dashboard_layout.py, evaluated in the page by
// drive.js ("eval-file"): one function, no arguments, returns a JSON-able report.
() => {
  const vw = document.scrollingElement.clientWidth, vh = window.innerHeight;
  const desc = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '') +
    (e.closest('.card') ? ' in ' + e.closest('.card').dataset.region : '');
  const shown = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const overflow = [], broken = [];
  for (const e of document.body.querySelectorAll('*')) {
    if (!shown(e) || e instanceof SVGElement) continue;
    const cs = getComputedStyle(e);
    if (cs.display === 'inline' || cs.display === 'contents') continue;
    if (e.scrollWidth > e.clientWidth + 1)
      overflow.push({ el: desc(e), axis: 'x', scroll: e.scrollWidth, client: e.clientWidth, text: e.textContent.slice(0, 80) });
    const scrollsY = cs.overflowY === 'auto' || cs.overflowY === 'scroll';
    if (!scrollsY && e.scrollHeight > e.clientHeight + 1)
      overflow.push({ el: desc(e), axis: 'y', scroll: e.scrollHeight, client: e.clientHeight, text: e.textContent.slice(0, 80) });
  }
  // Every word in the header, banner, drills and cards sits on one line; so do a number
  // and its unit ("0.52 ms", "12 s") and a weight with its label ("desired 100").
  const WORD = /(?:live|desired)\s+\d+|\d[\d.]*\s*(?:ms|s)(?![\w])|\S+/g;
  let words = 0;
  for (const root of document.querySelectorAll('header, #banner, #drills, #lease, #cards')) {
    const tw = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = tw.nextNode(); n; n = tw.nextNode()) {
      if (!n.parentElement || !shown(n.parentElement)) continue;
      const re = new RegExp(WORD.source, 'g');
      let m;
      while ((m = re.exec(n.data))) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.bottom)));
        words++;
        if (tops.size > 1) broken.push({ el: desc(n.parentElement), word: m[0], lines: tops.size });
      }
    }
  }
  const cards = [...document.querySelectorAll('.card')].map((c) => {
    const r = c.getBoundingClientRect();
    return { region: c.dataset.region, state: c.dataset.state, left: r.left, top: r.top, right: r.right, bottom: r.bottom,
      inside: r.left >= 0 && r.top >= 0 && r.right <= vw && r.bottom <= vh, text: c.innerText };
  });
  const log = document.getElementById('log'), lr = log.getBoundingClientRect();
  return {
    viewport: [vw, vh], scroll_width: document.scrollingElement.scrollWidth, client_width: vw,
    no_hscroll: document.scrollingElement.scrollWidth <= vw,
    overflow, broken, words, cards,
    log: { left: lr.left, top: lr.top, right: lr.right, bottom: lr.bottom,
      x_scroll: log.scrollWidth > log.clientWidth + 1 },
  };
}
