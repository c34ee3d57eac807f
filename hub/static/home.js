// Stop buttons on /hub/home call the REST API with the page's XSRF token (cookie auth).
(function () {
  var xsrf = document.getElementById('home-script').dataset.xsrf;
  var msg = document.getElementById('home-message');
  document.querySelectorAll('button.delete').forEach(function (b) {
    b.addEventListener('click', function () {
      b.disabled = true;
      fetch('/hub/api/users/' + encodeURIComponent(b.dataset.user) + '/servers/' + encodeURIComponent(b.dataset.server), {
        method: 'DELETE', headers: { 'X-XSRFToken': xsrf, 'Content-Type': 'application/json' }, credentials: 'same-origin', body: JSON.stringify({ remove: true })
      }).then(function (r) { if (r.ok) location.reload(); else r.json().then(function (j) { msg.textContent = j.message; b.disabled = false; }); });
    });
  });
  var share = document.getElementById('share-port');
  if (share) share.addEventListener('submit', function (e) {
    e.preventDefault();
    var server = document.getElementById('share-server').value;
    var port = document.getElementById('share-port-number').value;
    var users = document.getElementById('share-users').value.split(/[\s,]+/).filter(Boolean);
    var level = document.getElementById('share-level').value;
    var url = '/hub/api/users/' + encodeURIComponent(share.dataset.user) + (server ? '/servers/' + encodeURIComponent(server) : '') + '/ports/' + encodeURIComponent(port);
    fetch(url, { method: 'PUT', headers: { 'X-XSRFToken': xsrf, 'Content-Type': 'application/json' }, credentials: 'same-origin', body: JSON.stringify(level === 'users' ? { level: level, users: users } : { level: level }) })
      .then(function (r) { if (r.ok) location.reload(); else r.json().then(function (j) { msg.textContent = j.message; }); });
  });
  document.querySelectorAll('button.unshare').forEach(function (b) {
    b.addEventListener('click', function () {
      fetch(b.dataset.path, { method: 'DELETE', headers: { 'X-XSRFToken': xsrf }, credentials: 'same-origin' }).then(function (r) { if (r.ok) location.reload(); });
    });
  });
  document.querySelectorAll('button.stop').forEach(function (b) {
    b.addEventListener('click', function () {
      b.disabled = true;
      msg.textContent = 'Stopping…';
      var url = '/hub/api/users/' + encodeURIComponent(b.dataset.user) + (b.dataset.server ? '/servers/' + encodeURIComponent(b.dataset.server) : '/server');
      fetch(url, { method: 'DELETE', headers: { 'X-XSRFToken': xsrf }, credentials: 'same-origin' }).then(function (r) {
        if (r.ok) { location.reload(); return; }
        return r.json().then(function (j) { msg.textContent = j.message || ('Error ' + r.status); b.disabled = false; });
      });
    });
  });
})();
