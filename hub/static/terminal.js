// Web terminal page: xterm.js over a WebSocket to the hub; resizes follow the window; a dropped
// connection reconnects to the same shell for a while (the hub replays recent output).
(function () {
  var el = document.getElementById('terminal');
  var status = document.getElementById('terminal-status');
  var term = new window.Terminal({ cursorBlink: true, fontSize: 14, convertEol: false });
  var fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  var session = null, ws = null, closedByUser = false, retries = 0;
  function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }
  function connect() {
    var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var url = proto + '//' + location.host + el.dataset.ws + '?cols=' + term.cols + '&rows=' + term.rows + (session ? '&session=' + encodeURIComponent(session) : '');
    ws = new WebSocket(url);
    ws.onopen = function () { status.textContent = 'connected'; retries = 0; };
    ws.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.type === 'session') { if (session && session !== msg.id) term.reset(); session = msg.id; }
      else if (msg.type === 'output') term.write(msg.data);
      else if (msg.type === 'exit') { status.textContent = msg.reason ? 'closed (' + msg.reason + ')' : 'shell exited'; closedByUser = true; }
    };
    ws.onclose = function () {
      if (closedByUser) { status.textContent = status.textContent === 'connected' ? 'closed' : status.textContent; return; }
      if (retries++ > 10) { status.textContent = 'disconnected'; return; }
      status.textContent = 'reconnecting…';
      setTimeout(connect, Math.min(5000, 300 * retries));
    };
  }
  term.onData(function (data) { send({ type: 'input', data: data }); });
  term.onResize(function (size) { send({ type: 'resize', cols: size.cols, rows: size.rows }); });
  window.addEventListener('resize', function () { fit.fit(); });
  document.getElementById('terminal-close').addEventListener('click', function () {
    closedByUser = true; send({ type: 'close' }); status.textContent = 'closed'; if (ws) ws.close();
  });
  window.labhubTerminal = term; // for tests and power users
  connect();
  term.focus();
})();
