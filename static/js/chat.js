// Small behaviours htmx does not cover: Enter to send, focus and scrolling.
(function () {
  "use strict";

  function messages() {
    return document.getElementById("messages");
  }

  function scrollToLatest() {
    var list = messages();
    if (list) list.scrollTop = list.scrollHeight;
  }

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (input.id !== "message-input" || event.key !== "Enter") return;
    if (event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (input.value.trim() && !input.disabled) input.form.requestSubmit();
  });

  document.addEventListener("htmx:wsConfigSend", function () {
    var error = document.getElementById("composer-error");
    if (error) error.textContent = "";
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    var input = document.getElementById("message-input");
    if (input && !input.disabled && document.activeElement === document.body) input.focus();
    // Scrolling after a frame is chat-extras.js's: it stops when the reader scrolls up.
  });

  // A dropped socket: say so while it reconnects, then catch up on what this tab
  // missed meanwhile, since replies keep running and are saved without it. The ws
  // extension reconnects by itself after an abnormal close or a restart; after the
  // server's "live updates unavailable" (4503), this code does, backing off to 30 s.
  // A socket is back when the server says live updates flow (its first frame then
  // carries data-live="ok"), not when it opens: with Redis down, it opens only to say
  // why it closes.
  var RECONNECTING_CODES = [1006, 1011, 1012, 1013, 4408];
  var LIVE_UPDATES_UNAVAILABLE = 4503;
  var lostConnection = false;
  var retries = 0;

  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event.code;
    var status = document.getElementById("connection-status");
    if (!status) return;
    if (code === LIVE_UPDATES_UNAVAILABLE) {
      var socket = event.detail.socketWrapper;
      setTimeout(socket.reconnect, Math.min(30000, 1000 * Math.pow(2, retries++)));
    } else if (RECONNECTING_CODES.indexOf(code) < 0) {
      return;
    }
    lostConnection = true;
    if (status.hidden) {
      status.textContent = "Connection lost. Reconnecting…";
      status.hidden = false;
    }
  });

  document.addEventListener("htmx:wsAfterMessage", function (event) {
    if (!lostConnection || event.detail.message.indexOf('data-live="ok"') < 0) return;
    lostConnection = false;
    retries = 0;
    catchingUp = true;
    htmx.ajax("GET", window.location.pathname, {
      target: "#messages",
      select: "#messages",
      swap: "outerHTML",
    });
  });

  var catchingUp = false;
  document.addEventListener("htmx:afterSettle", function () {
    if (!catchingUp) return;
    catchingUp = false;
    syncComposer();
  });

  // The composer as the refreshed history says: disabled while a reply streams.
  function syncComposer() {
    var streaming = !!document.querySelector("#messages .message--streaming");
    var composer = document.getElementById("composer");
    if (!composer) return;
    composer.querySelectorAll("textarea, button[type=submit]").forEach(function (el) {
      el.disabled = streaming;
    });
    var stop = composer.querySelector("button[type=button]");
    if (stop) stop.disabled = !streaming;
  }

  document.addEventListener("DOMContentLoaded", function () {
    scrollToLatest();
    var input = document.getElementById("message-input");
    if (input && !input.disabled) input.focus();
  });

  // The open conversation was deleted (here or in another tab): go to the list, which
  // says so.
  document.addEventListener("htmx:wsAfterMessage", function () {
    var gone = document.querySelector("#conversation-gone[data-redirect]");
    if (!gone) return;
    var to = gone.dataset.redirect;
    gone.removeAttribute("data-redirect"); // go once, whatever frames follow
    window.location.assign(to);
  });
})();
