// Keyboard shortcuts for the reviewer console. Everything also works without this script.
(function () {
  "use strict";

  function submitDecision(value) {
    var form = document.getElementById("decide-form");
    if (!form) return;
    var button = form.querySelector('button[name="decision"][value="' + value + '"]');
    if (button) button.click();
  }

  function clickById(id) {
    var element = document.getElementById(id);
    if (element) element.click();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable)) return;
    switch (event.key) {
      case "r":
        clickById("reveal-button");
        break;
      case "c": {
        var select = document.getElementById("classification");
        if (select && !select.value) {
          select.focus();  // a confirmation needs a classification: choose it, then press c again
        } else {
          submitDecision("confirm");
        }
        break;
      }
      case "f":
        submitDecision("false_positive");
        break;
      case "e":
        submitDecision("escalate");
        break;
      case "n":
        clickById("next-button");
        break;
      case "?": {
        var help = document.getElementById("help");
        if (help) help.hidden = !help.hidden;
        break;
      }
      default:
        return;
    }
    event.preventDefault();
  });
})();
