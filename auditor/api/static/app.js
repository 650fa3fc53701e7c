// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.reject").forEach(function (b) {
    b.addEventListener("click", function (e) {
      if (!window.confirm("Reject this request?")) { e.preventDefault(); }
    });
  });
  var total = document.getElementById("total");
  if (total) { document.title = total.textContent + " findings · auditor"; }
});
