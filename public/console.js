// registry-mirror console: the little the pages do in the browser. Loaded with `defer`
// from the mirror itself (the CSP allows no inline script and no other origin).
'use strict';

// Copy buttons: <button data-copy="ID"> copies the value of the input #ID.
document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  if (!button) return;
  const input = document.getElementById(button.getAttribute('data-copy'));
  if (!input) return;
  input.select();
  const done = () => {
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, () => document.execCommand('copy') && done());
  else if (document.execCommand('copy')) done();
});

// Wide tables scroll sideways inside their .table-wrap (on a phone, say). A scrolling box
// must be reachable by keyboard (WCAG 2.1.1; axe: scrollable-region-focusable), so one that
// overflows becomes a focusable, named region; one that fits stays out of the Tab order.
// Run on load, after htmx swaps a live section in, and when the window changes size.
function markScrollableTables(root) {
  for (const wrap of root.querySelectorAll('.table-wrap')) {
    if (wrap.scrollWidth > wrap.clientWidth) {
      wrap.setAttribute('tabindex', '0');
      wrap.setAttribute('role', 'region');
      const caption = wrap.querySelector('caption');
      const heading = wrap.closest('section')?.querySelector('h2, h3');
      wrap.setAttribute('aria-label', (caption || heading)?.textContent.trim() || 'Table');
    } else {
      // A plain div may carry no aria-label: the three go together.
      wrap.removeAttribute('tabindex');
      wrap.removeAttribute('role');
      wrap.removeAttribute('aria-label');
    }
  }
}
document.addEventListener('DOMContentLoaded', () => markScrollableTables(document));
document.addEventListener('htmx:afterSettle', () => markScrollableTables(document));
let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => markScrollableTables(document), 150);
});
