// Progressive enhancement for the customer's pages: each works without this script.
(function () {
  "use strict";

  // A button that starts a redirect or a slow call says so and cannot be pressed twice. Its own
  // name and value still go with the form: a disabled button's would not.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitting) { event.preventDefault(); return; }
    form.dataset.submitting = "yes";
    var pressed = event.submitter;
    if (pressed && pressed.name) {
      var carried = document.createElement("input");
      carried.type = "hidden";
      carried.name = pressed.name;
      carried.value = pressed.value;
      form.appendChild(carried);
    }
    form.querySelectorAll("button").forEach(function (button) {
      button.disabled = true;
    });
    if (pressed && pressed.dataset.busy) {
      pressed.dataset.label = pressed.innerHTML;
      pressed.textContent = pressed.dataset.busy;
      pressed.setAttribute("aria-live", "polite");
    }
  });

  // Pages come back from the back-forward cache as they were left: make their buttons work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-submitting]").forEach(function (form) {
      delete form.dataset.submitting;
      form.querySelectorAll("button").forEach(function (button) {
        button.disabled = false;
        if (button.dataset.label) { button.innerHTML = button.dataset.label; }
      });
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    // The error summary takes the focus, so a screen reader reads it and a keyboard starts there.
    var summary = document.querySelector("[data-takes-focus]");
    if (summary) { summary.focus(); }

    // The visible countdown of a page that checks again by itself (the Refresh header reloads it).
    var countdown = document.querySelector("[data-countdown]");
    if (countdown) {
      var left = parseInt(countdown.textContent, 10);
      var timer = window.setInterval(function () {
        left = Math.max(0, left - 1);
        countdown.textContent = String(left);
        if (left === 0) { window.clearInterval(timer); }
      }, 1000);
    }
  });
})();
