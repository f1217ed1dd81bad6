// Evidence thumbnails play while the pointer is over them or they have focus; a tap toggles.
document.querySelectorAll("video.thumb").forEach(function (video) {
  function play() {
    var started = video.play();
    if (started) { started.catch(function () {}); }
  }
  function stop() { video.pause(); }
  video.addEventListener("mouseenter", play);
  video.addEventListener("focus", play);
  video.addEventListener("mouseleave", stop);
  video.addEventListener("blur", stop);
  video.addEventListener("click", function () { if (video.paused) { play(); } else { stop(); } });
});
