// The search form's image input: pick, drop or paste an image and see a preview
// before submitting. Without JavaScript the plain file input still works.
(function () {
  "use strict";

  function setup(form) {
    const input = form.querySelector("[data-image-input]");
    const zone = form.querySelector("[data-dropzone]");
    const preview = form.querySelector("[data-image-preview]");
    const previewImg = form.querySelector("[data-image-preview-img]");
    const previewName = form.querySelector("[data-image-preview-name]");
    const clear = form.querySelector("[data-image-clear]");
    if (!input || !zone) return;
    let objectUrl = null;

    function show(file) {
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      if (!file) { preview.hidden = true; return; }
      objectUrl = URL.createObjectURL(file);
      previewImg.src = objectUrl;
      previewName.textContent = (file.name || "pasted image") + " · " + Math.round(file.size / 1024) + " KB";
      preview.hidden = false;
    }

    function useFile(file) {
      const transfer = new DataTransfer();
      transfer.items.add(file);
      input.files = transfer.files;
      show(file);
    }

    input.addEventListener("change", function () { show(input.files[0]); });
    clear.addEventListener("click", function () { input.value = ""; show(null); input.focus(); });

    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      const file = event.dataTransfer.files[0];
      if (file) useFile(file);
    });
    document.addEventListener("paste", function (event) {
      const items = Array.from((event.clipboardData || {}).items || []);
      const item = items.find(function (i) { return i.kind === "file" && i.type.startsWith("image/"); });
      if (item) { event.preventDefault(); useFile(item.getAsFile()); }
    });
  }

  document.querySelectorAll("[data-search-form]").forEach(setup);
})();
