// Sources panel behaviour (runs as the panel's js_on_load; `element`, `trigger` and `watch`
// come from gr.HTML). A click on any citation marker or source card, in the chat or in the
// panel, fires the panel's `select` event with the marker's "turn:number" value; the server
// validates it and renders the article. Article text never reaches this script as code.
window.__daleelOpenCitation = (key) => {
  trigger("select", { index: key, value: key });
};
if (!window.__daleelCiteListener) {
  window.__daleelCiteListener = true;
  document.addEventListener("click", (event) => {
    const button = event
      .composedPath()
      .find((node) => node instanceof Element && node.matches("button.cite"));
    if (!button || !/^\d+:\d+$/.test(button.value)) return;
    event.preventDefault();
    event.stopPropagation();
    document.querySelectorAll("button.cite.active").forEach((b) => b.classList.remove("active"));
    button.classList.add("active");
    window.__daleelOpenCitation(button.value);
  }, true);
}
watch("value", () => {
  // Bring the highlighted sentence into view inside the article box; then, if the page hides
  // it (on a phone the panel sits below the chat, the input and the examples), scroll
  // the page so that the whole sentence shows.
  const box = element.querySelector(".article-text");
  const mark = element.querySelector("mark.cited");
  if (!box || !mark) return;
  box.scrollTop = Math.max(0, mark.offsetTop - box.clientHeight / 3);
  const r = mark.getBoundingClientRect();
  if (r.top < 0 || r.bottom > window.innerHeight) mark.scrollIntoView({ block: "center" });
});
