// Copy buttons on the wallet pages: <button data-copy="#field"> copies that field's value
// (or text). The clipboard API needs a secure context; elsewhere the text is selected and
// copied the old way, so the button works on any phone browser.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = ("value" in source ? source.value : source.textContent).trim();
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    if (source.select) {
      source.select();
    } else {
      window.getSelection().selectAllChildren(source);
    }
    copied = document.execCommand("copy");
  }
  const label = button.querySelector("[data-copy-label]") || button;
  const before = label.dataset.before || label.textContent;
  label.dataset.before = before;
  label.textContent = copied ? "Copied" : "Select and copy";
  setTimeout(() => { label.textContent = before; }, 2000);
});
