// Collections: the "Save to…" menu, reordering by drag and by keyboard, the
// share link's Copy button and confirmations. Every control is a plain link or
// form first; this script only makes it quicker (no page reload).
(function () {
  "use strict";

  // --- "Save to…" menus ----------------------------------------------------------
  let openToggle = null;

  function menuOf(toggle) { return document.getElementById(toggle.getAttribute("aria-controls")); }

  function closeMenu(returnFocus) {
    if (!openToggle) return;
    const toggle = openToggle;
    const menu = menuOf(toggle);
    openToggle = null;
    if (menu) { menu.hidden = true; menu.innerHTML = ""; }
    toggle.setAttribute("aria-expanded", "false");
    if (returnFocus) toggle.focus();
  }

  function openMenu(toggle) {
    const menu = menuOf(toggle);
    if (!menu || !window.htmx) return false;
    closeMenu(false);
    openToggle = toggle;
    toggle.setAttribute("aria-expanded", "true");
    menu.hidden = false;
    menu.innerHTML = '<p class="muted small save-menu-loading">Loading your collections…</p>';
    window.htmx.ajax("GET", toggle.href, { target: menu, swap: "innerHTML", source: toggle })
      .then(function () {
        // htmx wires the menu's forms when the swap settles, which can come after this
        // promise; a quick Enter would then submit the form as a plain page. Wire it now.
        window.htmx.process(menu);
        const first = menu.querySelector("button, input:not([type=hidden])");
        if (first && openToggle === toggle) first.focus();
      });
    return true;
  }

  // The menu's forms answer with the menu again (and the card's link, out of band).
  function afterMenuSwap(menu) {
    if (!openToggle || menuOf(openToggle) !== menu) return;
    // The out-of-band swap replaced the card's link; keep the open menu tied to it.
    if (openToggle.id && openToggle.id !== "lightbox-save") {
      const fresh = document.getElementById(openToggle.id);
      if (fresh) openToggle = fresh;
    }
    syncLightboxSave();
    const status = menu.querySelector(".save-menu-message, .field-error");
    const focusable = status && status.classList.contains("field-error")
      ? menu.querySelector("input[name=name]") : menu.querySelector("[aria-pressed=true]");
    if (focusable) focusable.focus();
  }

  // The lightbox's "Save to…" stands for the card being shown (gallery.js sets data-source).
  function syncLightboxSave() {
    const save = document.getElementById("lightbox-save");
    if (!save || !save.dataset.source) return;
    const toggle = document.getElementById(save.dataset.source);
    if (toggle) { save.textContent = toggle.textContent; save.classList.toggle("is-saved", toggle.classList.contains("is-saved")); }
  }

  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-save-menu]");
    if (toggle) {
      if (event.ctrlKey || event.metaKey || event.shiftKey) return; // a new tab: the full page
      if (openToggle === toggle) { event.preventDefault(); closeMenu(true); return; }
      if (openMenu(toggle)) event.preventDefault();
      return;
    }
    if (openToggle && !event.target.closest(".save-menu")) closeMenu(false);
  });

  // --- confirmations and copy -----------------------------------------------------
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const input = document.getElementById(button.dataset.copy);
    if (!input) return;
    input.select();
    const done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () {});
    else { try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ } }
  });

  // --- reordering -----------------------------------------------------------------
  function gallery() { return document.querySelector("#gallery[data-reorderable]"); }
  function cardsIn(list) { return Array.from(list.querySelectorAll(":scope > li.item-card")); }
  function announce(text) { const s = document.getElementById("reorder-status"); if (s) s.textContent = text; }

  function tokenFor(card) {
    const input = card.querySelector("[data-move-form] [name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function sendMove(card, body) {
    const data = new URLSearchParams(body);
    return fetch(card.dataset.moveUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "HX-Request": "true", "X-CSRFToken": tokenFor(card) },
    }).then(function (response) {
      if (!response.ok) throw new Error("move failed");
      return response.text();
    });
  }

  function moveByStep(card, direction, focusSelector) {
    const list = card.parentElement;
    const sibling = direction === "up" ? card.previousElementSibling : card.nextElementSibling;
    const movable = sibling && sibling.classList.contains("item-card");
    sendMove(card, { direction: direction }).then(function (text) {
      if (movable) {
        if (direction === "up") list.insertBefore(card, sibling); else list.insertBefore(sibling, card);
      } else if (direction === "up" && Number(list.dataset.offset || 0) > 0) {
        window.location.reload(); // it moved onto the previous page
        return;
      }
      const again = card.querySelector(focusSelector);
      if (again) again.focus();
      announce(text);
    }).catch(function () { window.location.reload(); });
  }

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-move-form]");
    if (!form || !window.fetch) return;
    event.preventDefault();
    const card = form.closest("li.item-card");
    const direction = form.querySelector("[name=direction]").value;
    moveByStep(card, direction, "[data-move=" + direction + "]");
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && openToggle) { event.preventDefault(); event.stopPropagation(); closeMenu(true); return; }
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    if (!gallery()) return;
    const card = event.target.closest && event.target.closest("#gallery > li.item-card");
    if (!card || event.target.matches("input, textarea, select")) return;
    event.preventDefault();
    const direction = event.key === "ArrowUp" ? "up" : "down";
    moveByStep(card, direction, "[data-move=" + direction + "]");
  }, true);

  // A modal dialog closes on Escape; with a menu open inside it, close the menu only.
  document.addEventListener("cancel", function (event) {
    if (openToggle && event.target.contains(openToggle)) { event.preventDefault(); closeMenu(true); }
  }, true);

  let dragged = null;
  document.addEventListener("dragstart", function (event) {
    const handle = event.target.closest && event.target.closest(".drag-handle");
    if (!handle || !gallery()) return;
    dragged = handle.closest("li.item-card");
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.itemId);
    event.dataTransfer.setDragImage(dragged, 20, 20);
  });

  function dropPlace(event) {
    const over = event.target.closest && event.target.closest("#gallery > li.item-card");
    if (!over || over === dragged) return null;
    const box = over.getBoundingClientRect();
    return { card: over, after: event.clientX > box.left + box.width / 2 };
  }

  function clearMarks() {
    document.querySelectorAll(".drop-before, .drop-after").forEach(function (el) { el.classList.remove("drop-before", "drop-after"); });
  }

  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    const place = dropPlace(event);
    if (!place) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    clearMarks();
    place.card.classList.add(place.after ? "drop-after" : "drop-before");
  });

  document.addEventListener("drop", function (event) {
    if (!dragged) return;
    const place = dropPlace(event);
    clearMarks();
    if (!place) return;
    event.preventDefault();
    const list = place.card.parentElement;
    list.insertBefore(dragged, place.after ? place.card.nextElementSibling : place.card);
    const index = Number(list.dataset.offset || 0) + cardsIn(list).indexOf(dragged);
    const card = dragged;
    sendMove(card, { to: String(index) }).then(announce).catch(function () { window.location.reload(); });
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    clearMarks();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    const menu = event.detail.target && event.detail.target.closest && event.detail.target.closest(".save-menu");
    if (menu) afterMenuSwap(menu);
  });

  window.loupeCollections = { closeMenu: closeMenu, syncLightboxSave: syncLightboxSave };
})();
