// The member app's service worker: it makes the app installable and answers with a small
// offline page when the network is gone. It caches only this build's static assets and
// that page, never a page of the app (pages hold balances and codes, and are `no-store`).
"use strict";

const CACHE = "mileverse-shell-v1";
const SHELL = ["/assets/app.css", "/assets/icon.svg", "/assets/offline.html"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys().then((names) =>
      Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name)))),
  );
  self.clients.claim();
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match("/assets/offline.html")));
    return;
  }
  const url = new URL(request.url);
  if (url.origin === location.origin && SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(request).then((cached) => cached || fetch(request)));
  }
});
