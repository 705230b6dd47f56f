// Recovery codes page: "Copy" puts every code on the clipboard, one per line; "Print" opens
// the print dialog (the print stylesheet keeps only the codes). "Download" needs no script.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-codes]");
  if (!button) return;
  if (button.dataset.codes === "print") {
    window.print();
    return;
  }
  const list = document.getElementById("recovery-codes");
  const codes = [...list.querySelectorAll("li")].map((item) => item.textContent.trim());
  let copied = false;
  try {
    await navigator.clipboard.writeText(codes.join("\n"));
    copied = true;
  } catch {
    // No clipboard API (not a secure context, older browser): select and copy the old way.
    window.getSelection().selectAllChildren(list);
    copied = document.execCommand("copy");
  }
  const label = button.querySelector("[data-codes-label]");
  label.textContent = copied ? "Copied" : "Select and copy";
  document.getElementById("codes-copied").textContent = copied ? "Codes copied." : "";
  setTimeout(() => { label.textContent = "Copy"; }, 2000);
});
