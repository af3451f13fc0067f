// Reading and navigating the chat: auto-scroll that yields when the reader scrolls up,
// "jump to latest", copy buttons, and the "/" shortcut to search. htmx covers the rest.
(function () {
  "use strict";

  var NEAR_BOTTOM = 48; // pixels: closer than this counts as "following the latest"
  var following = true;

  function list() {
    return document.getElementById("messages");
  }

  function atBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM;
  }

  function showJump(show) {
    var button = document.getElementById("jump-latest");
    if (button) button.hidden = !show;
  }

  function jumpToLatest() {
    var el = list();
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    following = true;
    showJump(false);
  }

  // Capture phase: scroll events do not bubble, and #messages can be swapped.
  document.addEventListener("scroll", function (event) {
    if (event.target !== list()) return;
    following = atBottom(event.target);
    showJump(!following);
  }, true);

  // Decide from where the reader is just before a frame lands (a scroll event may not
  // have fired yet), then follow the latest only if they were at the bottom.
  document.addEventListener("htmx:wsBeforeMessage", function () {
    var el = list();
    if (el) following = atBottom(el);
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    var el = list();
    if (!el) return;
    if (following) {
      el.scrollTop = el.scrollHeight;
    } else {
      showJump(true);
    }
  });

  function addCodeCopyButtons(root) {
    (root || document).querySelectorAll(".markdown pre").forEach(function (pre) {
      if (pre.querySelector(".copy-button")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy-button copy-button--code";
      button.textContent = "Copy code";
      pre.appendChild(button);
    });
  }

  function copyText(button) {
    var text;
    if (button.classList.contains("copy-button--code")) {
      text = button.parentElement.querySelector("code").innerText;
    } else {
      var source = document.querySelector(button.dataset.copy);
      var copy = source ? source.cloneNode(true) : null;
      if (copy) copy.querySelectorAll(".copy-button").forEach(function (b) { b.remove(); });
      text = copy ? copy.textContent.trim() : "";
    }
    navigator.clipboard.writeText(text).then(function () {
      // Icon buttons say "Copied" through their name and tooltip, text buttons in text.
      var attribute = button.hasAttribute("aria-label") ? "aria-label" : null;
      var label = attribute ? button.getAttribute(attribute) : button.textContent;
      var tip = button.dataset.tip;
      if (attribute) button.setAttribute(attribute, "Copied");
      else button.textContent = "Copied";
      if (tip) button.dataset.tip = "Copied";
      setTimeout(function () {
        if (attribute) button.setAttribute(attribute, label);
        else button.textContent = label;
        if (tip) button.dataset.tip = tip;
      }, 1500);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".copy-button");
    if (button) copyText(button);
    if (event.target.closest("#jump-latest")) jumpToLatest();
  });

  function typing(target) {
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  document.addEventListener("keydown", function (event) {
    var search = document.getElementById("search-input");
    if (!search) return;
    var slash = event.key === "/" && !typing(event.target);
    var ctrlK = event.key === "k" && (event.ctrlKey || event.metaKey);
    if (slash || ctrlK) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.key === "Escape" && event.target === search) {
      search.blur();
    }
  });

  // Enter sends in the edit box too (Shift+Enter adds a line), like the composer.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.hasAttribute || !input.hasAttribute("data-enter-sends")) return;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (input.value.trim()) input.form.requestSubmit();
  });

  document.addEventListener("htmx:afterSettle", function () { addCodeCopyButtons(); });
  document.addEventListener("htmx:wsAfterMessage", function () { addCodeCopyButtons(); });
  document.addEventListener("DOMContentLoaded", function () {
    addCodeCopyButtons();
    jumpToLatest();
  });
})();
