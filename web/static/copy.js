// Progressive enhancement: a "Copy" button next to each read-only text box (the box itself stays
// selectable without JavaScript).
for (const button of document.querySelectorAll("button.copy[data-copy]")) {
  const box = document.getElementById(button.dataset.copy);
  if (!box || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(box.value);
      button.textContent = "Copied";
    } catch {
      box.select();
    }
  });
}
