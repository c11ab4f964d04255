// Registers the member app's service worker (installable app, offline page).
"use strict";
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app" }).catch(() => {});
}
