// The card viewer's helper inside the card's sandboxed iframe, appended after the card's HTML
// and allowed by its hash in the panel's CSP (see cardView.ts). It carries no secret: the
// panel's nonce is never given to card content. The card's own inline scripts were blocked by
// that CSP as the page parsed; this runs them, in document order and in place, from blob:
// URLs, which the CSP allows, so no text of the card is ever rewritten. Then it restores the
// scroll position, reports scrolling, and applies a running task's data updates the way
// Metaflow's own viewer does (in place when the reload token matches, else asks for the
// newer render).
(function () {
  var me = document.currentScript;
  if (me && me.parentNode) me.parentNode.removeChild(me);
  var JS = /^(|text\/javascript|application\/javascript|text\/ecmascript|application\/ecmascript|module)$/;
  var scripts = Array.prototype.slice.call(document.querySelectorAll('script'));
  for (var i = 0; i < scripts.length; i++) {
    var old = scripts[i];
    var type = (old.getAttribute('type') || '').trim().toLowerCase();
    if (old.hasAttribute('src') || !JS.test(type)) continue; // data blocks stay data
    var s = document.createElement('script');
    for (var j = 0; j < old.attributes.length; j++) {
      var a = old.attributes[j];
      if (a.name !== 'nonce' && a.name !== 'integrity') s.setAttribute(a.name, a.value);
    }
    s.async = false; // in document order, as the parser would have run them
    s.src = URL.createObjectURL(new Blob([old.textContent || ''], { type: 'text/javascript' }));
    old.parentNode.replaceChild(s, old);
  }
  var target = null;
  var since = 0;
  function back() {
    if (!target) return;
    window.scrollTo(target[0], target[1]);
    var short = window.scrollY < target[1] - 1 || window.scrollX < target[0] - 1;
    if (short && Date.now() - since < 3000) requestAnimationFrame(back);
  }
  window.addEventListener('scroll', function () {
    parent.postMessage({ flowspinScroll: [window.scrollX, window.scrollY] }, '*');
  });
  window.addEventListener('message', function (e) {
    if (e.source !== parent || !e.data) return;
    var at = e.data.flowspinScrollTo;
    if (at) {
      target = [Number(at[0]) || 0, Number(at[1]) || 0];
      since = Date.now();
      back();
    }
    var d = e.data.flowspinData;
    if (!d) return;
    var up = window.metaflow_card_update;
    if (typeof up !== 'function') return;
    if (d.reload_token === window.METAFLOW_RELOAD_TOKEN) up(d.data);
    else parent.postMessage({ flowspinStale: d.created_on }, '*');
  });
})();
