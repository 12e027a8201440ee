/*
 * Marketing Assistant: progressive-enhancement glue. Everything works without
 * it; with it, a few data-* attributes get behaviour. No inline handlers, no
 * eval (strict CSP); plain ES5 for older WeChat webviews. Listeners are
 * delegated on document, so content swapped in by htmx needs no re-binding.
 *
 *   <form data-confirm="确定删除？">            asks before submitting
 *   <button data-confirm="确定？">              asks before the click acts
 *   <button data-copy="https://…">              copies the attribute value
 *   <button data-copy data-copy-target="#url">  copies an input's value / an element's text
 *        optional data-copied="已复制" (feedback label, default 已复制)
 *   <button data-dismiss>                       removes the closest .ma-flash
 */
(function () {
  'use strict';

  var doc = document;

  function closest(el, selector) {
    if (el && el.nodeType === 3) {
      el = el.parentNode; // text node (old Safari click targets)
    }
    while (el && el.nodeType === 1) {
      if (matches(el, selector)) {
        return el;
      }
      el = el.parentNode;
    }
    return null;
  }

  function matches(el, selector) {
    var fn = el.matches || el.msMatchesSelector || el.webkitMatchesSelector;
    return fn ? fn.call(el, selector) : false;
  }

  function cancel(e) {
    e.preventDefault();
    // Stop htmx (listening on the element itself) from sending the request.
    if (e.stopImmediatePropagation) {
      e.stopImmediatePropagation();
    }
    e.stopPropagation();
  }

  // --- data-confirm ---------------------------------------------------------
  // Capture phase: runs before htmx's own listeners on the element.

  doc.addEventListener('submit', function (e) {
    var form = e.target;
    var msg = form && form.getAttribute && form.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) {
      cancel(e);
    }
  }, true);

  doc.addEventListener('click', function (e) {
    var el = closest(e.target, '[data-confirm]');
    if (!el || el.tagName === 'FORM') {
      return;
    }
    if (!window.confirm(el.getAttribute('data-confirm'))) {
      cancel(e);
    }
  }, true);

  // --- data-copy ------------------------------------------------------------

  function copyText(el) {
    var sel = el.getAttribute('data-copy-target');
    if (sel) {
      var target = doc.querySelector(sel);
      if (!target) {
        return { text: '', node: null };
      }
      var isField = target.tagName === 'INPUT' || target.tagName === 'TEXTAREA';
      return { text: isField ? target.value : target.textContent, node: target };
    }
    return { text: el.getAttribute('data-copy') || '', node: null };
  }

  // execCommand fallback for webviews without the async Clipboard API.
  function legacyCopy(text) {
    var ta = doc.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'ma-sr-only';
    doc.body.appendChild(ta);
    ta.select();
    ta.setSelectionRange(0, text.length);
    var ok = false;
    try {
      ok = doc.execCommand('copy');
    } catch (err) {
      ok = false;
    }
    doc.body.removeChild(ta);
    return ok;
  }

  function feedback(el, ok, node) {
    if (!ok) {
      // Leave the text selected so the user can copy it by hand.
      if (node && node.select) {
        node.focus();
        node.select();
      }
      el.setAttribute('title', '复制失败，请手动复制');
      return;
    }
    if (el.getAttribute('data-copy-busy')) {
      return;
    }
    var label = el.textContent;
    el.setAttribute('data-copy-busy', '1');
    el.textContent = el.getAttribute('data-copied') || '已复制';
    el.className += ' is-copied';
    window.setTimeout(function () {
      el.textContent = label;
      el.className = el.className.replace(/\s*\bis-copied\b/g, '');
      el.removeAttribute('data-copy-busy');
    }, 2000);
  }

  doc.addEventListener('click', function (e) {
    var el = closest(e.target, '[data-copy]');
    if (!el) {
      return;
    }
    e.preventDefault();
    var src = copyText(el);
    if (!src.text) {
      feedback(el, false, src.node);
      return;
    }
    var clip = window.navigator.clipboard;
    if (clip && clip.writeText && window.isSecureContext) {
      clip.writeText(src.text).then(function () {
        feedback(el, true, src.node);
      }, function () {
        feedback(el, legacyCopy(src.text), src.node);
      });
      return;
    }
    feedback(el, legacyCopy(src.text), src.node);
  });

  // --- data-dismiss ---------------------------------------------------------

  doc.addEventListener('click', function (e) {
    var el = closest(e.target, '[data-dismiss]');
    if (!el) {
      return;
    }
    var box = closest(el, '.ma-flash') || el.parentNode;
    if (box && box.parentNode) {
      box.parentNode.removeChild(box);
    }
  });
}());
