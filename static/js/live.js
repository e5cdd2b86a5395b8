// Live search pages: the server pushes changes over Server-Sent Events (htmx's SSE
// extension does the swapping). This file only keeps window.loupeLiveDown true
// while the stream is not open, which switches on the 2-second polling fallback
// that #results carries (hx-trigger "every 2s [window.loupeLiveDown ...]"). Until
// the stream has opened, the page polls: a proxy that buffers or blocks the
// stream must never leave a page waiting.
(function () {
  "use strict";
  window.loupeLiveDown = true;
  document.addEventListener("htmx:sseOpen", function () { window.loupeLiveDown = false; });
  document.addEventListener("htmx:sseError", function () { window.loupeLiveDown = true; });
  // The server closes the stream after "done". Polling resumes, but only a page whose
  // #results is not final still carries the poll: if the last event was missed, the
  // next poll fetches the final partial (answered with 286, which stops polling).
  document.addEventListener("htmx:sseClose", function () { window.loupeLiveDown = true; });
})();
