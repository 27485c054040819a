// The logs page streams its lines into the list this script sits in; it
// keeps the list scrolled to its end while the reader is at the end. It runs
// as the list opens, since a followed page never finishes loading.
(function () {
  'use strict';
  var log = document.currentScript && document.currentScript.parentNode;
  if (!log) return;
  var stick = true;
  log.addEventListener('scroll', function () { stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 8; });
  new MutationObserver(function () { if (stick) log.scrollTop = log.scrollHeight; }).observe(log, { childList: true });
})();
