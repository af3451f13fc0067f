// The page frame: the sidebar (collapsible on a desktop, off-canvas on a phone), the
// account menu on a phone, floating <details> menus, and the composer's height.
(function () {
  "use strict";

  var PHONE = window.matchMedia("(max-width: 700px)");
  var COLLAPSED = "sidebar-collapsed";

  function sidebar() { return document.getElementById("sidebar"); }
  function toggle() { return document.getElementById("sidebar-toggle"); }
  function backdrop() { return document.querySelector(".sidebar-backdrop"); }

  function sidebarShown() {
    var aside = sidebar();
    if (!aside) return false;
    if (PHONE.matches) return aside.classList.contains("is-open");
    return !document.documentElement.classList.contains(COLLAPSED);
  }

  function showSidebar(show) {
    var aside = sidebar();
    if (!aside) return;
    if (PHONE.matches) {
      aside.classList.toggle("is-open", show);
      if (backdrop()) backdrop().hidden = !show;
      // While the sidebar covers the page, the page behind it is out of reach.
      var main = document.getElementById("main");
      if (main) main.inert = show;
      if (show) {
        var first = aside.querySelector("a[aria-current], button, a, input");
        if (first) first.focus();
      } else if (toggle()) {
        toggle().focus();
      }
    } else {
      document.documentElement.classList.toggle(COLLAPSED, !show);
      try { localStorage.setItem(COLLAPSED, show ? "" : "1"); } catch (e) { /* private mode */ }
    }
    syncToggle();
  }

  function syncToggle() {
    var button = toggle();
    if (button) button.setAttribute("aria-expanded", String(sidebarShown()));
  }

  function showAccount(show) {
    var links = document.getElementById("account-links");
    var button = document.querySelector(".topbar__account");
    if (!links || !button) return;
    links.classList.toggle("is-open", show);
    button.setAttribute("aria-expanded", String(show));
  }

  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest("#sidebar-toggle")) showSidebar(!sidebarShown());
    else if (target.closest(".sidebar__close, .sidebar-backdrop")) showSidebar(false);
    if (target.closest(".topbar__account")) {
      showAccount(!document.getElementById("account-links").classList.contains("is-open"));
    } else if (!target.closest("#account-links")) {
      showAccount(false);
    }
    var menu = target.closest("details.menu");
    closeMenus(menu);
    // A chosen item closes its menu; its result shows outside the menu.
    if (menu && target.closest(".menu__item")) menu.open = false;
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("details.menu[open]");
    if (open) {
      open.open = false;
      open.querySelector("summary").focus();
    } else if (PHONE.matches && sidebarShown()) {
      showSidebar(false);
    }
    showAccount(false);
  });

  // Where CSS `field-sizing` is missing, grow the composer with its text by hand.
  function grow(textarea) {
    if (CSS.supports("field-sizing", "content")) return;
    textarea.style.height = "auto";
    textarea.style.height = textarea.scrollHeight + 2 + "px";
  }
  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest(".composer")) grow(event.target);
  });

  // A conversation started from the home page's composer sends its first message once
  // the conversation's socket is open.
  document.addEventListener("htmx:wsOpen", function () {
    var input = document.querySelector("#message-input[data-autosend]");
    if (!input) return;
    input.removeAttribute("data-autosend");
    if (input.value.trim() && !input.disabled) input.form.requestSubmit();
  });

  PHONE.addEventListener("change", function () {
    if (sidebar()) sidebar().classList.remove("is-open");
    if (backdrop()) backdrop().hidden = true;
    if (document.getElementById("main")) document.getElementById("main").inert = false;
    syncToggle();
  });

  try {
    if (localStorage.getItem(COLLAPSED)) document.documentElement.classList.add(COLLAPSED);
  } catch (e) { /* private mode */ }
  document.addEventListener("DOMContentLoaded", syncToggle);
})();
