// Live search pages: the server pushes changes over Server-Sent Events (htmx's SSE
// extension does the swapping). This file only keeps window.loupeLiveDown true
// while the stream is not open, which switches on the 2-second polling fallback
// that #results carries (hx-trigger "every 2s [window.loupeLiveDown ...]").
(function () {
  "use strict";
  window.loupeLiveDown = !("EventSource" in window);
  document.addEventListener("htmx:sseOpen", function () { window.loupeLiveDown = false; });
  document.addEventListener("htmx:sseError", function () { window.loupeLiveDown = true; });
  // The server closes the stream after "done"; nothing is left to poll for then.
  document.addEventListener("htmx:sseClose", function () { window.loupeLiveDown = false; });
})();
