// Sandbox shim of the WeCom JS-SDK (@wecom/jssdk `ww`, legacy jweixin `wx`).
// Loaded INSTEAD of the real SDK, only in sandbox mode. It validates the
// signatures the page produces against the tickets the sandbox issued
// (40093 when wrong), answers getContext / getCurExternalContact /
// getCurExternalChat from the sandbox's sidebar context, and records
// sendChatMessage in the sandbox outbox. A small floating picker chooses
// which customer or group chat the sidebar is "open" in.
// No inline script, no eval, styles set through the CSSOM: strict CSP safe.
(function () {
  'use strict';
  var script = document.currentScript;
  var base = script ? script.src.replace(/[^/]*(\?.*)?$/, '') : '/sandbox/';
  var ready = null;

  function api(path, body) {
    var init = { credentials: 'same-origin', headers: { 'Content-Type': 'application/json' } };
    if (body !== undefined) { init.method = 'POST'; init.body = JSON.stringify(body); }
    return fetch(base + path, init).then(function (r) { return r.json(); });
  }
  function pageURL() { return location.href.split('#')[0]; }
  function fail(name, msg) { var e = new Error(name + ':fail ' + msg); e.errMsg = name + ':fail ' + msg; return e; }
  function settle(promise, opts) {
    opts = opts || {};
    return promise.then(function (res) {
      if (opts.success) { opts.success(res); }
      if (opts.complete) { opts.complete(res); }
      return res;
    }, function (err) {
      if (opts.fail) { opts.fail(err); }
      if (opts.complete) { opts.complete(err); }
      throw err;
    });
  }

  // verify asks the sandbox whether a {timestamp, nonceStr, signature} is right.
  function verify(kind, sig) {
    if (!sig || !sig.signature) { return Promise.resolve({ errcode: 40093, errmsg: 'no signature' }); }
    return api('verify', { kind: kind, url: pageURL(), timestamp: String(sig.timestamp), nonceStr: String(sig.nonceStr), signature: String(sig.signature) });
  }
  function check(name, getSig, onOK, onFail) {
    if (!getSig) { return Promise.resolve(); }
    return Promise.resolve(getSig(pageURL())).then(function (sig) { return verify(name === 'agentConfig' ? 'agent' : 'config', sig); })
      .then(function (r) {
        var res = { errMsg: name + (r.errcode === 0 ? ':ok' : ':fail ' + r.errmsg), errCode: r.errcode };
        if (r.errcode === 0) { if (onOK) { onOK(res); } return res; }
        if (onFail) { onFail(res); }
        throw fail(name, r.errmsg + ' (' + r.errcode + ')');
      });
  }

  function register(opts) {
    ready = Promise.all([
      check('config', opts.getConfigSignature, opts.onConfigSuccess, opts.onConfigFail),
      check('agentConfig', opts.getAgentConfigSignature, opts.onAgentConfigSuccess, opts.onAgentConfigFail)
    ]);
    ready.catch(function () {});
    return ready;
  }
  function whenReady(name) {
    if (!ready) { return Promise.reject(fail(name, 'not registered: call ww.register first')); }
    return ready.catch(function (e) { throw fail(name, 'register failed: ' + e.errMsg); });
  }
  function context() { return api('context'); }

  function getContext(opts) {
    return settle(whenReady('getContext').then(context).then(function (c) {
      return { errMsg: 'getContext:ok', entry: c.entry || 'normal' };
    }), opts);
  }
  function getCurExternalContact(opts) {
    return settle(whenReady('getCurExternalContact').then(context).then(function (c) {
      if ((c.entry !== 'single_chat_tools' && c.entry !== 'contact_profile') || !c.external_userid) {
        throw fail('getCurExternalContact', 'without context of external contact');
      }
      return { errMsg: 'getCurExternalContact:ok', userId: c.external_userid };
    }), opts);
  }
  function getCurExternalChat(opts) {
    return settle(whenReady('getCurExternalChat').then(context).then(function (c) {
      if (c.entry !== 'group_chat_tools' || !c.chat_id) { throw fail('getCurExternalChat', 'without context of external chat'); }
      return { errMsg: 'getCurExternalChat:ok', chatId: c.chat_id };
    }), opts);
  }
  function sendChatMessage(opts) {
    var payload = {};
    Object.keys(opts || {}).forEach(function (k) { if (typeof opts[k] !== 'function') { payload[k] = opts[k]; } });
    return settle(whenReady('sendChatMessage').then(function () { return api('send-chat-message', payload); }).then(function (r) {
      if (r.errcode !== 0) { throw fail('sendChatMessage', r.errmsg || r.error); }
      return { errMsg: 'sendChatMessage:ok' };
    }), opts);
  }

  var ww = {
    SDK_VERSION: 'sandbox', register: register, getContext: getContext, getCurExternalContact: getCurExternalContact,
    getCurExternalChat: getCurExternalChat, sendChatMessage: sendChatMessage
  };

  // Legacy jweixin: wx.config / wx.agentConfig / wx.invoke / wx.ready / wx.error.
  var readyFns = [], errorFns = [];
  function legacy(name, opts) {
    var sig = { timestamp: opts.timestamp, nonceStr: opts.nonceStr, signature: opts.signature };
    return check(name, function () { return sig; }, opts.success, opts.fail);
  }
  var wx = {
    config: function (opts) {
      ready = legacy('config', opts);
      ready.then(function () { readyFns.forEach(function (f) { f(); }); }, function (e) { errorFns.forEach(function (f) { f(e); }); });
    },
    agentConfig: function (opts) {
      var p = legacy('agentConfig', opts);
      ready = ready ? Promise.all([ready, p]) : p;
      ready.catch(function () {});
    },
    ready: function (f) { readyFns.push(f); },
    error: function (f) { errorFns.push(f); },
    invoke: function (name, args, cb) {
      var fn = ww[name];
      var p = fn ? fn(args) : Promise.reject(fail(name, 'not supported by the sandbox shim'));
      p.then(function (r) { r.err_msg = r.errMsg; if (cb) { cb(r); } }, function (e) { if (cb) { cb({ err_msg: e.errMsg, errMsg: e.errMsg }); } });
    }
  };
  window.ww = ww;
  window.wx = window.wx || wx;

  // The picker: which employee, entry, customer or group chat is "open".
  function el(tag, text) { var e = document.createElement(tag); if (text) { e.textContent = text; } return e; }
  function select(name, items, current) {
    var s = el('select'); s.name = name; s.dataset.testid = 'ww-shim-' + name;
    s.appendChild(el('option', '—'));
    items.forEach(function (it) {
      var o = el('option', it.name ? it.name + ' (' + it.id + ')' : it); o.value = it.id || it;
      if (o.value === current) { o.selected = true; }
      s.appendChild(o);
    });
    return s;
  }
  function buildPanel(panel, userid) {
    api('options?userid=' + encodeURIComponent(userid || '')).then(function (o) {
      var c = o.context || {};
      userid = userid || c.userid || '';
      panel.textContent = '';
      var emp = select('userid', o.employees, userid);
      var entry = select('entry', o.entries, c.entry || 'single_chat_tools');
      var cust = select('external_userid', o.customers, c.external_userid);
      var chat = select('chat_id', o.chats, c.chat_id);
      var apply = el('button', 'Open'); apply.dataset.testid = 'ww-shim-apply';
      emp.addEventListener('change', function () { buildPanel(panel, emp.value); });
      apply.addEventListener('click', function () {
        var pick = function (s) { return s.value === '—' ? '' : s.value; };
        api('context', { userid: pick(emp), entry: pick(entry), external_userid: pick(cust), chat_id: pick(chat) })
          .then(function () { location.reload(); });
      });
      [el('strong', 'ww sandbox'), emp, entry, cust, chat, apply].forEach(function (x) {
        x.style.display = 'block'; x.style.margin = '4px 0'; x.style.maxWidth = '260px'; panel.appendChild(x);
      });
    });
  }
  function mountPicker() {
    var toggle = el('button', 'ww'); toggle.dataset.testid = 'ww-shim-toggle';
    var panel = el('div'); panel.dataset.testid = 'ww-shim-panel';
    [toggle, panel].forEach(function (x) { x.style.position = 'fixed'; x.style.right = '8px'; x.style.zIndex = '2147483647'; });
    toggle.style.bottom = '8px'; toggle.style.opacity = '0.6';
    panel.style.bottom = '44px'; panel.style.background = '#fff'; panel.style.border = '1px solid #ccc';
    panel.style.padding = '8px'; panel.style.font = '12px sans-serif'; panel.style.display = 'none';
    toggle.addEventListener('click', function () {
      var open = panel.style.display === 'none';
      panel.style.display = open ? 'block' : 'none';
      if (open) { buildPanel(panel, ''); }
    });
    document.body.appendChild(panel); document.body.appendChild(toggle);
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', mountPicker); } else { mountPicker(); }
}());
