// Runs inside the sandboxed custom-template frame (opaque origin). It asks the portal for the rendered
// template, writes it into this document, and turns a submitted <form> into an answer message.
(function () {
  function wireForms() {
    document.addEventListener("submit", function (e) {
      e.preventDefault();
      const data = {};
      new FormData(e.target).forEach(function (v, k) {
        if (k in data) data[k] = [].concat(data[k], v); else data[k] = v;
      });
      parent.postMessage({ type: "quorum-answer", answer: data }, "*");
    });
  }
  window.addEventListener("message", function (e) {
    if (e.source !== parent || !e.data || e.data.type !== "quorum-render") return;
    document.body.innerHTML = "";
    const range = document.createRange();
    // createContextualFragment runs the template's own <script> elements (allowed by this frame's CSP).
    document.body.appendChild(range.createContextualFragment(e.data.html));
    wireForms();
  });
  parent.postMessage({ type: "quorum-ready" }, "*");
})();
