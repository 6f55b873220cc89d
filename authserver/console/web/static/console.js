// authserver console: the only script of the console, and optional — every
// form works without it. It copies a revealed token, asks for confirmation
// in a keyboard-usable <dialog>, opens form dialogs in place of the pages
// their links lead to, and toggles select-all checkboxes.
(function () {
  'use strict';

  // Copy buttons: <button data-copy="ID"> copies the value of element ID.
  document.addEventListener('click', function (e) {
    var button = e.target.closest('[data-copy]');
    if (!button) return;
    var field = document.getElementById(button.getAttribute('data-copy'));
    var status = document.getElementById('copy-status');
    if (!field) return;
    var say = function (ok) {
      if (status) status.textContent = ok ? 'Copied to the clipboard.' : 'Could not copy: select the token and copy it by hand.';
    };
    var fallback = function () {
      field.focus();
      field.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
      say(ok);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { say(true); }, fallback);
    } else {
      fallback();
    }
  });

  // A revealed token is selected as soon as it gets focus.
  document.addEventListener('focusin', function (e) {
    if (e.target.matches && e.target.matches('[data-select-on-focus]')) e.target.select();
  });

  // Confirmation: a submit button (or form) with data-confirm asks first.
  var dialog = document.getElementById('confirm-dialog');
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (form.getAttribute('method') === 'dialog') return;
    var submitter = e.submitter || null;
    var message = (submitter && submitter.getAttribute('data-confirm')) || form.getAttribute('data-confirm');
    if (!message) return;
    if (form.dataset.confirmed === 'yes') {
      delete form.dataset.confirmed;
      return;
    }
    e.preventDefault();
    var go = function () {
      form.dataset.confirmed = 'yes';
      if (form.requestSubmit) form.requestSubmit(submitter); else form.submit();
    };
    if (!dialog || typeof dialog.showModal !== 'function') {
      if (window.confirm(message)) go();
      return;
    }
    document.getElementById('confirm-message').textContent = message;
    document.getElementById('confirm-ok').textContent =
      (submitter && submitter.getAttribute('data-confirm-label')) || 'Confirm';
    dialog.returnValue = '';
    dialog.onclose = function () {
      dialog.onclose = null;
      if (dialog.returnValue === 'confirm') go();
      else if (submitter) submitter.focus();
    };
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });

  // Form dialogs: <a href="PAGE" data-dialog="ID"> opens <dialog id=ID>,
  // which holds the form PAGE shows, instead of leaving the page. Focus
  // goes to its title ([data-dialog-title], read out first), so that the
  // Enter that opened it cannot also submit it; Tab reaches the choices.
  // Escape and any [data-close-dialog] close it and give focus back to
  // the link.
  document.addEventListener('click', function (e) {
    var opener = e.target.closest('a[data-dialog]');
    if (opener) {
      var dlg = document.getElementById(opener.getAttribute('data-dialog'));
      if (!dlg || typeof dlg.showModal !== 'function') return; // follow the link
      e.preventDefault();
      dlg.onclose = function () { dlg.onclose = null; opener.focus(); };
      dlg.showModal();
      var title = dlg.querySelector('[data-dialog-title]');
      if (title) title.focus();
      return;
    }
    var closer = e.target.closest('[data-close-dialog]');
    if (closer) {
      var open = closer.closest('dialog');
      if (open) {
        e.preventDefault();
        open.close();
      }
    }
  });

  // Select-all: <input type=checkbox data-select-all="NAME"> toggles every
  // checkbox NAME of its form, and shows whether some or all are checked.
  var boxes = function (all) {
    return all.form ? all.form.querySelectorAll('input[type=checkbox][name="' + all.getAttribute('data-select-all') + '"]') : [];
  };
  var refresh = function (all) {
    var list = boxes(all), n = 0;
    list.forEach(function (b) { if (b.checked) n++; });
    all.checked = list.length > 0 && n === list.length;
    all.indeterminate = n > 0 && n < list.length;
  };
  document.addEventListener('change', function (e) {
    var t = e.target;
    if (t.matches('input[data-select-all]')) {
      boxes(t).forEach(function (b) { b.checked = t.checked; });
      return;
    }
    if (t.matches('input[type=checkbox]') && t.form) {
      t.form.querySelectorAll('input[data-select-all]').forEach(refresh);
    }
    // Picking a date picks "on a date".
    if (t.id === 'expires_on') {
      var radio = document.getElementById('expiry-date');
      if (radio) radio.checked = true;
    }
  });
})();

// Set-password links carry their code in the URL's fragment, which the
// browser never sends to the server: copy it into the form, hide the
// field, and take it out of the address bar and the history entry.
(function () {
  'use strict';
  var code = document.querySelector('[data-link-code]');
  var fragment = window.location.hash.slice(1);
  if (!code || !fragment) return;
  code.value = fragment;
  var field = document.getElementById('code-field');
  if (field) field.hidden = true;
  if (window.history && history.replaceState) {
    history.replaceState(null, '', window.location.pathname + window.location.search);
  }
})();
