// Sandbox console: every form posts its fields as JSON to its data-api URL.
// No inline scripts, no eval, so the page runs under a strict CSP.
(function () {
  'use strict';
  function show(id, data) { document.getElementById(id).textContent = JSON.stringify(data, null, 2); }
  function call(method, url, body) {
    var init = { method: method, headers: { 'Content-Type': 'application/json' } };
    if (body !== undefined) { init.body = JSON.stringify(body); }
    return fetch(url, init).then(function (r) { return r.json(); });
  }
  function value(input) {
    var v = input.value.trim();
    if (v === '') { return undefined; }
    switch (input.dataset.type) {
      case 'int': return parseInt(v, 10);
      case 'float': return parseFloat(v);
      case 'ints': return v.split(',').map(function (x) { return parseInt(x, 10); });
      case 'list': return v.split(',').map(function (x) { return x.trim(); });
      default: return v;
    }
  }
  function refresh() { call('GET', '/api/state').then(function (d) { show('state', d); }); }
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!form.dataset.api) { return; }
    ev.preventDefault();
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && value(el) !== undefined) { body[el.name] = value(el); }
    });
    call('POST', form.dataset.api, body).then(function (d) { show('result', d); refresh(); });
  });
  document.addEventListener('click', function (ev) {
    var t = ev.target;
    if (t.dataset.refresh !== undefined) { refresh(); }
    if (t.dataset.load) {
      call('GET', t.dataset.load).then(function (d) { show(t.dataset.load.split('/').pop(), d); });
    }
  });
  refresh();
}());
