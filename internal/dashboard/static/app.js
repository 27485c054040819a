// cfhost dashboard: small enhancements over pages that work without
// script: copy buttons, and relative times that stay current.
(function () {
  'use strict';
  document.querySelectorAll('button.copy[data-copy]').forEach(function (b) {
    if (!navigator.clipboard) return;
    b.hidden = false;
    b.addEventListener('click', function () {
      navigator.clipboard.writeText(b.dataset.copy).then(function () {
        b.textContent = 'Copied';
        b.classList.add('done');
        setTimeout(function () { b.textContent = 'Copy'; b.classList.remove('done'); }, 1500);
      });
    });
  });

  var units = [['year', 31536000], ['month', 2592000], ['day', 86400], ['hour', 3600], ['minute', 60]];
  function ago(t) {
    var s = Math.max(0, (Date.now() - t) / 1000);
    if (s < 45) return 'just now';
    if (s < 3600) { var m = Math.round(s / 60); return m === 1 ? '1 minute ago' : m + ' minutes ago'; }
    if (s < 172800) { var h = Math.floor(s / 3600); return h === 1 ? '1 hour ago' : h + ' hours ago'; }
    for (var i = 0; i < units.length; i++) {
      var n = Math.floor(s / units[i][1]);
      if (n >= 1 && (units[i][0] !== 'month' || s >= 5184000)) return n === 1 ? '1 ' + units[i][0] + ' ago' : n + ' ' + units[i][0] + 's ago';
    }
    return 'just now';
  }
  function refresh() {
    document.querySelectorAll('time[datetime][title]').forEach(function (el) {
      if (el.closest('.log')) return;
      var t = Date.parse(el.getAttribute('datetime'));
      if (!isNaN(t)) el.textContent = ago(t);
    });
  }
  setInterval(refresh, 30000);
})();
