// Loa dashboard: small progressive enhancements; every page works without this file.
"use strict";

// Elements with data-live="URL" are refreshed from that URL (JSON {html} or {text}) every few seconds.
// Forms with data-count="URL" show a live count from URL?<form fields> in their [data-count-out] element.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-count]")) {
    const out = form.querySelector("[data-count-out]");
    let timer = null;
    const refresh = async () => {
      const params = new URLSearchParams(new FormData(form));
      params.delete("csrf");
      // The texts do not change the count, and a long one would make the address too long.
      for (const text of form.querySelectorAll("textarea")) params.delete(text.name);
      try {
        const response = await fetch(form.dataset.count + "?" + params.toString(), {credentials: "same-origin"});
        if (response.ok) out.textContent = (await response.json()).text;
      } catch (error) { /* keep the last figure */ }
    };
    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 250); });
    form.addEventListener("change", refresh);
    refresh();
  }
  for (const element of document.querySelectorAll("[data-live]")) {
    const tick = async () => {
      try {
        const response = await fetch(element.dataset.live, {credentials: "same-origin"});
        if (response.ok) {
          const body = await response.json();
          element.textContent = body.text;
          if (body.done) return;
        }
      } catch (error) { /* try again */ }
      setTimeout(tick, 2000);
    };
    setTimeout(tick, 2000);
  }
  // Selects that filter a list submit their form at once.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
