// A grid of looping clips that can be toggled "smoke" with a tap, a click or the keyboard
// (arrow keys move between clips, Space toggles), shared by the label, tutorial and review pages.

const videoCache = new Map(); // url -> <video> already loading (the next page's clips)

function makeVideo(url) {
  const cached = videoCache.get(url);
  if (cached) {
    videoCache.delete(url);
    return cached;
  }
  const video = document.createElement("video");
  video.muted = true;
  video.loop = true;
  video.autoplay = true;
  video.playsInline = true;
  video.setAttribute("muted", "");
  video.setAttribute("playsinline", "");
  video.setAttribute("loop", "");
  video.setAttribute("autoplay", "");
  video.preload = "auto";
  video.src = url;
  return video;
}

/** Start downloading clips now, to show them later without waiting. */
export function preload(urls) {
  for (const url of urls) {
    if (!videoCache.has(url)) {
      const video = makeVideo(url);
      video.autoplay = false;
      video.load();
      videoCache.set(url, video);
    }
  }
  while (videoCache.size > 64) videoCache.delete(videoCache.keys().next().value);
}

export function clipUrl(item) {
  return (item.url_root || "") + (item.url_part || "");
}

/** Arrow keys move focus between the grid's ``selector`` elements, row by row. */
export function arrowKeys(container, selector, onKey) {
  container.addEventListener("keydown", (event) => {
    const items = Array.from(container.querySelectorAll(selector));
    const index = items.indexOf(document.activeElement);
    if (index < 0) return;
    const columns = getComputedStyle(container).gridTemplateColumns.split(" ").filter(Boolean).length || 1;
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns };
    if (event.key in moves) {
      const next = items[index + moves[event.key]];
      if (next) next.focus();
      event.preventDefault();
      return;
    }
    if (event.key === "Home") { items[0].focus(); event.preventDefault(); return; }
    if (event.key === "End") { items[items.length - 1].focus(); event.preventDefault(); return; }
    if (onKey) onKey(event, items[index], index);
  });
}

/** A toggle tile: <button aria-pressed> holding the looping clip. */
export function tile(url, { index, total, label = "Smoke", onToggle } = {}) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tile loading";
  button.setAttribute("aria-pressed", "false");
  button.setAttribute("aria-label", `${label} in clip ${index + 1} of ${total}`);
  const frame = document.createElement("div");
  frame.className = "frame";
  const video = makeVideo(url);
  video.autoplay = true;
  video.setAttribute("aria-hidden", "true");
  const ready = () => button.classList.remove("loading");
  if (video.readyState >= 2) ready();
  video.addEventListener("loadeddata", ready, { once: true });
  video.addEventListener("error", () => {
    button.classList.remove("loading");
    frame.dataset.error = "true";
  }, { once: true });
  frame.append(video);
  const number = document.createElement("span");
  number.className = "badge";
  number.textContent = String(index + 1);
  frame.append(number);
  const caption = document.createElement("span");
  caption.className = "caption";
  const mark = document.createElement("span");
  mark.className = "mark";
  mark.textContent = label;
  caption.append(mark);
  button.append(frame, caption);
  button.addEventListener("click", () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(on));
    if (onToggle) onToggle(on);
  });
  queueMicrotask(() => video.play?.().catch(() => {}));
  return button;
}

/** Boxes (fractions of the frame: left, top, right, bottom) drawn over a tile's clip. */
export function showRegions(tileElement, regions) {
  const frame = tileElement.querySelector(".frame");
  for (const old of frame.querySelectorAll(".region")) old.remove();
  for (const [left, top, right, bottom] of regions || []) {
    const box = document.createElement("span");
    box.className = "region";
    box.style.left = `${left * 100}%`;
    box.style.top = `${top * 100}%`;
    box.style.width = `${(right - left) * 100}%`;
    box.style.height = `${(bottom - top) * 100}%`;
    frame.append(box);
  }
}

/** Count down to ``when`` (ms since epoch), calling ``tick(secondsLeft)`` and then ``done``. */
export function countdown(when, tick, done) {
  let timer = null;
  const step = () => {
    const left = Math.ceil((when - Date.now()) / 1000);
    if (left <= 0) {
      done();
      return;
    }
    tick(left);
    timer = setTimeout(step, Math.min(1000, when - Date.now() - (left - 1) * 1000));
  };
  step();
  return () => clearTimeout(timer);
}
