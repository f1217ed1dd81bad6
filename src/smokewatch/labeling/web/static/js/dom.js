// Text on the page is always text: build nodes from plain strings, never markup from data.

/** A fragment of text nodes and <strong> elements: rich("plain ", strong("bold"), " more"). */
export function rich(...parts) {
  const fragment = document.createDocumentFragment();
  for (const part of parts) fragment.append(part instanceof Node ? part : document.createTextNode(String(part)));
  return fragment;
}

/** An element holding text (the tag's class, when given). */
export function el(tag, text, className = "") {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

export const strong = (text) => el("strong", text);
