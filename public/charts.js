// registry-mirror console: the overview's charts. Each <div data-chart="pulls|bytes"
// data-series="URL"> gets a uPlot chart of the series JSON at URL (fetched once per URL);
// the page already holds the totals as text, so without this script nothing is lost.
'use strict';

(() => {
  if (typeof uPlot !== 'function') return;
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || undefined;
  const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const bytes = (n) => {
    if (n == null) return '';
    let i = 0;
    while (Math.abs(n) >= 1024 && i < BYTE_UNITS.length - 1) { n /= 1024; i++; }
    return `${i === 0 ? n : n.toFixed(1)} ${BYTE_UNITS[i]}`;
  };
  const count = (n) => (n == null ? '' : String(Math.round(n)));

  // Distinguishable in light and dark mode, and not by hue alone (dashes for the second kind).
  const LINES = {
    pulls: [
      { label: 'Hits', key: ['pulls', 'hit'], stroke: '#1a7f37' },
      { label: 'Revalidated', key: ['pulls', 'revalidated'], stroke: '#0a58ca', dash: [6, 3] },
      { label: 'Stale', key: ['pulls', 'stale'], stroke: '#9a6700', dash: [2, 3] },
      { label: 'Misses', key: ['pulls', 'miss'], stroke: '#cf222e', dash: [10, 4] },
    ],
    bytes: [
      { label: 'Served', key: ['bytes', 'served'], stroke: '#1a7f37' },
      { label: 'From upstreams', key: ['bytes', 'upstream'], stroke: '#cf222e', dash: [6, 3] },
    ],
  };

  const SPAN = { hour: 3600, day: 86400, week: 604800 };
  // Whole numbers only on the pulls axis.
  const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8];

  const fetched = new Map();
  const load = (url) => {
    if (!fetched.has(url)) {
      fetched.set(url, fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`)))));
    }
    return fetched.get(url);
  };

  // The y axis as wide as its longest label ("976.6 KiB" did not fit a fixed 70 px), after uPlot's axis-autosize demo.
  const fitLabels = (u, values, axisIdx, cycleNum) => {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    const longest = (values || []).reduce((a, v) => (String(v).length > a.length ? String(v) : a), '');
    u.ctx.font = axis.font[0];
    return Math.ceil(axis.ticks.size + axis.gap + u.ctx.measureText(longest).width / devicePixelRatio) + 4;
  };

  const charts = [];
  const draw = (el, data) => {
    const kind = el.getAttribute('data-chart');
    const lines = LINES[kind];
    if (!lines) return;
    const fmt = kind === 'bytes' ? bytes : count;
    const step = data.stepSeconds;
    const end = (data.t.length > 0 ? data.t[data.t.length - 1] : Math.floor(Date.now() / 1000)) + step;
    const span = SPAN[data.range] || step * Math.max(1, data.t.length);
    const fg = css('--fg');
    const grid = css('--line');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts = {
      width: Math.max(240, el.clientWidth),
      height: 220,
      series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.stroke, width: 2, dash: l.dash, value: (u, v) => fmt(v) }))],
      axes: [axis, { ...axis, size: fitLabels, values: (u, vals) => vals.map(fmt), ...(kind === 'bytes' ? {} : { incrs: COUNT_STEPS }) }],
      scales: {
        // The whole range, however few steps have data yet (a fresh process has one minute).
        x: { time: true, range: () => [end - span, end] },
        // A tenth of headroom: the highest point is not drawn on (and cut by) the top edge.
        y: { range: (u, min, max) => [0, Math.max(kind === 'bytes' ? 1024 : 5, max * 1.1)] },
      },
    };
    const cols = [data.t, ...lines.map((l) => data[l.key[0]][l.key[1]])];
    el.textContent = '';
    charts.push({ el, plot: new uPlot(opts, cols, el) });
  };

  for (const el of document.querySelectorAll('[data-chart][data-series]')) {
    load(el.getAttribute('data-series')).then((data) => draw(el, data), () => {
      el.textContent = 'The chart could not be loaded; the totals below are current.';
    });
  }

  let pending;
  window.addEventListener('resize', () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      for (const c of charts) c.plot.setSize({ width: Math.max(240, c.el.clientWidth), height: 220 });
    }, 150);
  });
})();
