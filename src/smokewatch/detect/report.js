// Evidence thumbnails play while the pointer is over them or they have focus; a tap toggles.
document.querySelectorAll("video.thumb").forEach(function (video) {
  function play() {
    var started = video.play();
    if (started) { started.catch(function () {}); }
  }
  function stop() { video.pause(); }
  // A still until played: with preload="metadata" Chromium paints nothing (a dark box) until
  // the video is seeked, so seek to the middle of the clip once its length is known.
  function still() {
    if (video.paused && video.currentTime === 0 && isFinite(video.duration)) {
      video.currentTime = video.duration / 2;
    }
  }
  if (video.readyState >= 1) { still(); }
  else { video.addEventListener("loadedmetadata", still, { once: true }); }
  video.addEventListener("mouseenter", play);
  video.addEventListener("focus", play);
  video.addEventListener("mouseleave", stop);
  video.addEventListener("blur", stop);
  video.addEventListener("click", function () { if (video.paused) { play(); } else { stop(); } });
});
