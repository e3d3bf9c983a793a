/* The portal's small enhancements; every page works without them, and the server checks everything.
 * - A Reference ID is checked as it is typed, by the same rules and messages as connect/links.py
 *   (tests/unit/portal/test_ref_id_script.py runs both on the same inputs).
 * - The link builder shows only the chosen flow's utilities.
 * - Copy buttons copy a link, a new API key or a signing secret.
 * No inline script anywhere: the Content-Security-Policy forbids it.
 */
(function () {
  "use strict";

  var REF_ID_MAX_LENGTH = 255;

  function hex(code) {
    var digits = code.toString(16).toUpperCase();
    while (digits.length < 4) digits = "0" + digits;
    return digits;
  }

  function describe(character) {
    var code = character.codePointAt(0);
    if (code < 0x20 || code === 0x7f) return "a control character (U+" + hex(code) + ")";
    return '"' + character + '" (U+' + hex(code) + "), which is not ASCII";
  }

  /* What is wrong with a Reference ID, in the landing page's words; null when nothing is. */
  function refIdProblem(value) {
    var characters = Array.from(value);
    if (characters.length > REF_ID_MAX_LENGTH) {
      return "refId is " + characters.length + " characters long; the limit is " +
        REF_ID_MAX_LENGTH + ".";
    }
    for (var index = 0; index < characters.length; index++) {
      var code = characters[index].codePointAt(0);
      if (code < 0x20 || code > 0x7e) {
        return "refId may contain only printable ASCII characters; character " + (index + 1) +
          " is " + describe(characters[index]) + ".";
      }
    }
    return null;
  }

  if (typeof module === "object" && module.exports) {
    module.exports = { refIdProblem: refIdProblem };
    return;
  }

  function checkRefId(input) {
    var problem = refIdProblem(input.value);
    var message = document.getElementById(input.id + "-error");
    if (message) message.textContent = problem || "";
    if (problem) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    return problem;
  }

  function showChosenFlow(select) {
    var form = select.form;
    var fieldsets = form.querySelectorAll("fieldset[data-flow]");
    for (var index = 0; index < fieldsets.length; index++) {
      var fieldset = fieldsets[index];
      var chosen = fieldset.getAttribute("data-flow") === select.value;
      fieldset.hidden = !chosen;
      fieldset.disabled = !chosen;  // a disabled fieldset's boxes are not sent
    }
  }

  function copy(button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector('[data-copy-status="' + input.id + '"]');
    function done(text) { if (status) status.textContent = text; }
    var copied = button.getAttribute("data-copied") || "Link copied.";
    function fallback() {
      input.select();
      done(document.execCommand("copy") ? copied : "Select the text and copy it.");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done(copied); }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var refIds = document.querySelectorAll("input[data-ref-id]");
    Array.prototype.forEach.call(refIds, function (input) {
      input.addEventListener("input", function () { checkRefId(input); });
      input.form.addEventListener("submit", function (event) {
        if (checkRefId(input)) {
          event.preventDefault();
          input.focus();
        }
      });
    });

    var selects = document.querySelectorAll("select[data-flow-select]");
    Array.prototype.forEach.call(selects, function (select) {
      showChosenFlow(select);
      select.addEventListener("change", function () { showChosenFlow(select); });
    });

    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { copy(button); });
    });
  });
})();
