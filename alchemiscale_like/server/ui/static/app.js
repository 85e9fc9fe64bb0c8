// Live refresh: every element with data-refresh="URL" is re-fetched every
// data-every seconds and its content replaced, while the page is visible.
// No framework, no build step; the server renders every fragment.
"use strict";

function refresh(element) {
  const url = element.dataset.refresh;
  return fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
    .then((response) => {
      if (response.status === 401) {
        window.location.reload(); // the session ended: the server sends the login page
        return;
      }
      if (!response.ok) {
        element.dataset.refreshError = String(response.status);
        return;
      }
      return response.text().then((html) => {
        element.innerHTML = html;
        delete element.dataset.refreshError;
        const stamp = document.getElementById("refreshed");
        if (stamp) {
          stamp.textContent = "· updated " + new Date().toLocaleTimeString();
        }
      });
    })
    .catch(() => {
      element.dataset.refreshError = "network";
    });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const element of document.querySelectorAll("[data-refresh]")) {
    const seconds = Math.max(1, Number(element.dataset.every || "5"));
    let busy = false;
    const tick = () => {
      if (busy || document.hidden) {
        return;
      }
      busy = true;
      refresh(element).finally(() => {
        busy = false;
      });
    };
    if (element.id === "estimates") {
      tick(); // loaded after the page: the chart's query is the slowest part
    }
    window.setInterval(tick, seconds * 1000);
  }
});
