// Live progress on the spawn-pending page from the SSE progress stream; redirect when ready.
(function () {
  var s = document.getElementById('pending-script').dataset;
  var bar = document.getElementById('progress-bar');
  var box = document.getElementById('progress');
  var msg = document.getElementById('progress-message');
  var log = document.getElementById('progress-log');
  var source = new EventSource(s.progressUrl);
  source.onmessage = function (ev) {
    var e = JSON.parse(ev.data);
    bar.style.width = e.progress + '%';
    box.setAttribute('aria-valuenow', String(e.progress));
    msg.textContent = e.message;
    var li = document.createElement('li'); li.textContent = e.message; log.appendChild(li);
    if (e.ready) { source.close(); window.location.replace(s.next); }
    if (e.failed) { source.close(); box.classList.add('failed'); msg.classList.add('error'); }
  };
  source.onerror = function () { if (source.readyState === 2) msg.textContent = 'Lost connection to the hub; reload to retry.'; };
  document.getElementById('cancel').addEventListener('click', function () {
    var url = '/hub/api/users/' + encodeURIComponent(s.user) + (s.server ? '/servers/' + encodeURIComponent(s.server) : '/server');
    fetch(url, { method: 'DELETE', headers: { 'X-XSRFToken': s.xsrf }, credentials: 'same-origin' }).then(function () { window.location.href = '/hub/home'; });
  });
})();
