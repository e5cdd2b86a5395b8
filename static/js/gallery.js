// The lightbox: click a thumbnail to see it larger, ←/→ to move, Esc to close.
// Event delegation on document, so cards swapped in by htmx work too.
(function () {
  "use strict";
  let cards = [];
  let current = -1;
  let opener = null;

  function dialog() { return document.getElementById("lightbox"); }

  function show(index) {
    const box = dialog();
    if (!box || index < 0 || index >= cards.length) return;
    current = index;
    const card = cards[index].dataset;
    const img = document.getElementById("lightbox-img");
    if (card.src) { img.src = card.src; img.alt = card.title || ""; img.hidden = false; }
    else { img.removeAttribute("src"); img.hidden = true; }
    document.getElementById("lightbox-title").textContent = card.title || "Untitled";
    const facts = [card.size, card.date, card.site].filter(Boolean);
    document.getElementById("lightbox-meta").textContent =
      facts.join(" · ") + "  (" + (index + 1) + " of " + cards.length + ")";
    const page = document.getElementById("lightbox-page");
    page.href = card.page || "#"; page.hidden = !card.page;
    document.getElementById("lightbox-original").href = card.original || "#";
    syncSave(cards[index]);
  }

  // "Save to…" in the lightbox acts for the card shown (collections.js runs the menu).
  function syncSave(button) {
    const save = document.getElementById("lightbox-save");
    if (!save) return;
    const card = button.closest(".card");
    const toggle = card && card.querySelector(".save-toggle");
    if (window.loupeCollections) window.loupeCollections.closeMenu(false);
    save.hidden = !toggle;
    if (!toggle) return;
    save.href = toggle.href;
    save.dataset.source = toggle.id;
    save.textContent = toggle.textContent;
    save.classList.toggle("is-saved", toggle.classList.contains("is-saved"));
  }

  function open(button) {
    const box = dialog();
    if (!box) return;
    cards = Array.from(document.querySelectorAll("#gallery [data-lightbox]"));
    opener = button;
    show(cards.indexOf(button));
    if (!box.open) box.showModal();
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-lightbox]");
    if (button) { open(button); return; }
    const box = dialog();
    if (!box || !box.open) return;
    if (event.target.closest("[data-close]") || event.target === box) box.close();
    else if (event.target.closest("[data-prev]")) show(current - 1);
    else if (event.target.closest("[data-next]")) show(current + 1);
  });

  document.addEventListener("keydown", function (event) {
    const box = dialog();
    if (!box || !box.open) return;
    if (event.target.closest && event.target.closest("input, textarea, select")) return;
    if (event.key === "ArrowLeft") { event.preventDefault(); show(current - 1); }
    if (event.key === "ArrowRight") { event.preventDefault(); show(current + 1); }
  });

  document.addEventListener("close", function (event) {
    // Give focus back to the card that opened the lightbox (keyboard users).
    if (event.target === dialog() && opener && document.body.contains(opener)) opener.focus();
  }, true);
})();
