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

  document.addEventListener("DOMContentLoaded", function () {
    scrollToLatest();
    var input = document.getElementById("message-input");
    if (input && !input.disabled) input.focus();
  });
})();
