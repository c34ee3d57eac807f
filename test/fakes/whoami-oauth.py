"""A JupyterHub OAuth service built only from JupyterHub's own client code (jupyterhub.services.auth,
Debian's `jupyterhub` package), as in JupyterHub's examples/service-whoami. Run by LabHub as a
hub-managed service; it logs users in through the hub's OAuth provider and returns their model."""
import json
import os
from urllib.parse import urlparse

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.web import Application, RequestHandler, authenticated

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated


class WhoAmIHandler(HubOAuthenticated, RequestHandler):
    @authenticated
    def get(self):
        self.set_header("content-type", "application/json")
        self.write(json.dumps(self.get_current_user(), indent=1, sort_keys=True))


def main():
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    app = Application(
        [
            (prefix, WhoAmIHandler),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
        ],
        cookie_secret=os.urandom(32),
    )
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    HTTPServer(app).listen(url.port, url.hostname)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
