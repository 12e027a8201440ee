/*
 * Marketing Assistant: the WeCom chat sidebar.
 *
 * Registers @wecom/jssdk (or the sandbox shim) with the corp and agent
 * signatures from our endpoints, asks getContext whether this is a one-on-one
 * chat, a customer group or something else, and loads the matching fragment
 * with htmx. Every failure shows one of the screens the server rendered
 * hidden in the page, and the diagnosis panel says what happened: client
 * version, registration path, the URL that was signed and the API errors.
 *
 * Strict CSP: no inline handlers, no eval; listeners are delegated on
 * document so fragments swapped in by htmx need no re-binding. ES5 syntax.
 */
(function () {
  'use strict';

  var root = document.getElementById('ma-sidebar');
  if (!root) {
    return;
  }
  var cfg = root.dataset;
  var sandbox = cfg.sandbox === 'true';
  var diag = { client: '', sdk: '', path: [], entry: '', signed: [], errors: [] };
  var registerFailed = null;

  function describe(err) {
    if (!err) {
      return '';
    }
    if (typeof err === 'string') {
      return err;
    }
    var s = err.errMsg || err.errmsg || err.err_msg || err.message || '';
    if (err.errCode || err.errcode) {
      s += ' (' + (err.errCode || err.errcode) + ')';
    }
    return s || String(err);
  }

  function setText(sel, text) {
    var el = document.querySelector(sel);
    if (el) {
      el.textContent = text;
    }
  }

  function renderDiag() {
    setText('[data-diag="client"]', diag.client);
    setText('[data-diag="sdk"]', diag.sdk);
    setText('[data-diag="path"]', diag.path.join(' → '));
    setText('[data-diag="entry"]', diag.entry);
    setText('[data-diag="signed-url"]', diag.signed.join(' | '));
    setText('[data-diag="page-url"]', location.href.split('#')[0]);
    setText('[data-diag="errors"]', diag.errors.join('\n'));
  }

  function addError(where, err) {
    diag.errors.push(where + ': ' + describe(err));
    renderDiag();
  }

  // show reveals one failure screen instead of the main area.
  function show(cause, code) {
    var panels = document.querySelectorAll('[data-problem]');
    for (var i = 0; i < panels.length; i++) {
      panels[i].hidden = panels[i].getAttribute('data-problem') !== cause;
      if (!panels[i].hidden) {
        var c = panels[i].querySelector('[data-problem-code]');
        if (c) {
          c.textContent = code || '';
        }
      }
    }
    var main = document.getElementById('ma-main');
    if (main) {
      main.hidden = true;
    }
    var d = document.getElementById('ma-diagnosis');
    if (d) {
      d.open = true;
    }
    renderDiag();
  }

  // classify names the screen for a JS-SDK failure.
  function classify(err, stage) {
    var msg = describe(err).toLowerCase();
    if (/40093|42012|40013|80001|signature|签名/.test(msg) || (registerFailed && registerFailed.stage === 'config')) {
      return 'signature';
    }
    if (/without context|not in a chat/.test(msg)) {
      return 'not_in_chat';
    }
    if (/permission|权限|60011|60020|48002/.test(msg)) {
      return stage === 'agentConfig' ? 'not_visible' : 'no_permission';
    }
    return 'api_failed';
  }

  function sign(endpoint, url) {
    diag.signed.push(url);
    renderDiag();
    var body = 'url=' + encodeURIComponent(url);
    return fetch(endpoint, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: body
    }).then(function (r) {
      if (r.status === 401) {
        location.reload(); // the session expired: sign in again through OAuth
      }
      return r.json().then(function (j) {
        if (!r.ok) {
          var e = new Error(j.errmsg + (j.advice ? ' ' + j.advice : ''));
          e.errcode = j.errcode;
          throw e;
        }
        return { timestamp: j.timestamp, nonceStr: j.nonceStr, signature: j.signature };
      });
    }).catch(function (err) {
      addError('签名 ' + endpoint, err);
      throw err;
    });
  }

  function onRegisterFail(stage) {
    return function (res) {
      registerFailed = { stage: stage, res: res };
      diag.path.push(stage + ' ✕');
      addError(stage, res);
    };
  }

  function onRegisterOK(stage) {
    return function () {
      diag.path.push(stage + ' ✓');
      renderDiag();
    };
  }

  function register() {
    diag.path.push(sandbox ? 'ww.register (sandbox shim)' : 'ww.register');
    ww.register({
      corpId: cfg.corpId,
      agentId: Number(cfg.agentId),
      jsApiList: ['getContext', 'getCurExternalContact', 'getCurExternalChat', 'sendChatMessage'],
      getConfigSignature: function (url) { return sign(cfg.configUrl, url); },
      getAgentConfigSignature: function (url) { return sign(cfg.agentUrl, url); },
      onConfigSuccess: onRegisterOK('config'),
      onConfigFail: onRegisterFail('config'),
      onAgentConfigSuccess: onRegisterOK('agentConfig'),
      onAgentConfigFail: onRegisterFail('agentConfig')
    });
  }

  function load(url) {
    htmx.ajax('GET', url, { target: '#ma-main', swap: 'innerHTML' });
  }

  function failed(stage) {
    return function (err) {
      addError(stage, err);
      var where = registerFailed ? registerFailed.stage : stage;
      var why = registerFailed ? registerFailed.res : err;
      show(classify(why, where), describe(why));
    };
  }

  function openChat(entry) {
    diag.entry = entry;
    renderDiag();
    if (entry === 'single_chat_tools' || entry === 'contact_profile' || entry === 'single_kf_tools') {
      return ww.getCurExternalContact().then(function (r) {
        load('/sidebar/c/' + encodeURIComponent(r.userId));
      }, failed('getCurExternalContact'));
    }
    if (entry === 'group_chat_tools') {
      return ww.getCurExternalChat().then(function (r) {
        load('/sidebar/g/' + encodeURIComponent(r.chatId));
      }, failed('getCurExternalChat'));
    }
    show('not_in_chat', 'entry ' + entry);
  }

  function start() {
    var m = /wxwork\/([\d.]+)/i.exec(navigator.userAgent);
    diag.client = m ? '企业微信 ' + m[1] : (sandbox ? '普通浏览器（沙箱）' : '非企业微信：' + navigator.userAgent);
    if (!window.ww || (!sandbox && !m)) {
      show('not_wecom', window.ww ? '' : 'ww 未加载');
      return;
    }
    diag.sdk = ww.SDK_VERSION || '@wecom/jssdk';
    register();
    ww.getContext().then(function (res) { return openChat(res.entry); }, failed('getContext'));
  }

  // Failure fragments (404, 403, 502…) carry their own screen: show them.
  document.addEventListener('htmx:beforeSwap', function (e) {
    var status = e.detail.xhr.status;
    if (status === 401) {
      location.reload();
      return;
    }
    if (status >= 400) {
      addError('HTTP ' + status, e.detail.requestConfig ? e.detail.requestConfig.path : '');
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  document.addEventListener('click', function (e) {
    var t = e.target;
    var tab = t.closest ? t.closest('.ma-tab') : null;
    if (tab) {
      var tabs = tab.parentNode.querySelectorAll('.ma-tab');
      for (var i = 0; i < tabs.length; i++) {
        tabs[i].setAttribute('aria-selected', tabs[i] === tab ? 'true' : 'false');
      }
      return;
    }
    if (t.closest && t.closest('[data-action="resign"]')) {
      location.reload(); // fresh signatures for the URL as it is now
      return;
    }
    var send = t.closest ? t.closest('[data-send-news]') : null;
    if (send) {
      sendNews(send);
    }
  });

  function sendStatus(btn, text) {
    var box = btn.closest('[data-testid="materials"]');
    var s = box ? box.querySelector('[data-send-status]') : null;
    if (s) {
      s.textContent = text;
    }
  }

  // sendNews pushes the material into the chat, then records material_sent.
  function sendNews(btn) {
    var d = btn.dataset;
    btn.disabled = true;
    sendStatus(btn, '正在发送…');
    ww.sendChatMessage({
      msgtype: 'news', enterChat: true,
      news: { link: d.link, title: d.title, desc: d.desc, imgUrl: d.img }
    }).then(function () {
      return fetch(d.recordUrl, { method: 'POST', credentials: 'same-origin' });
    }).then(function (r) {
      if (!r.ok) {
        throw new Error('记录发送失败 HTTP ' + r.status);
      }
      sendStatus(btn, '已发送「' + d.title + '」');
    }).catch(function (err) {
      addError('sendChatMessage', err);
      sendStatus(btn, '发送失败：' + describe(err));
    }).then(function () {
      btn.disabled = false;
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
