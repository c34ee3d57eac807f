#!/usr/bin/python3 -S
"""The soak test's single-user stand-in: a raw-socket HTTP server of ~9 MB (Node's fake server is
~45 MB), so 200 of them fit on a small machine. Honours the JupyterHub env contract like
test/fakes/fake-singleuser.mjs: listens on JUPYTERHUB_SERVICE_URL, serves only under
JUPYTERHUB_SERVICE_PREFIX, answers {prefix}api with JSON."""
import os, signal, socket, sys

url = os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:0/").split("//", 1)[1].split("/", 1)[0]
host, port = url.rsplit(":", 1)
prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").encode()
user = os.environ.get("JUPYTERHUB_USER", "")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port)))
s.listen(64)
print("tiny-singleuser listening on %s:%s%s" % (host, port, prefix.decode()), flush=True)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        parts = data.split(b" ", 2)
        path = parts[1] if len(parts) > 1 else b""
        if path.startswith(prefix):
            body = ('{"user": "%s", "path": "%s"}' % (user, path.decode("latin-1"))).encode()
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        else:
            body = b"not under prefix"
            head = b"HTTP/1.1 404 Not Found\r\n"
        c.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    finally:
        c.close()
