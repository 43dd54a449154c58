"""A real HTTP server on 127.0.0.1 for the download tests: it serves files the tests made, and can
misbehave on request (404, truncated body, stall, wrong hub hash) the ways real hosts do."""

import hashlib
import http.server
import os
import threading
import time


class CheckpointServer:
    """Serves files from `root` at ``http://127.0.0.1:<port>/<relative path>``.

    ``behaviour[path]`` may be ``"truncate"`` (announce the full length, send half, close),
    ``"stall"`` (wait 5 s before answering), ``"bad-etag"`` (send a wrong X-Linked-Etag), or
    ``("redirect", location, etag)``: answer 302 to `location` with that X-Linked-Etag, as the hub
    redirects to its CDN.
    Every served file gets the hub's ``X-Linked-Etag: "<sha256>"`` header, as LFS files on the hub do.
    """

    def __init__(self, root):
        self.root = root
        self.behaviour = {}
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.lstrip("/")
                server.requests.append(path)
                local = os.path.join(server.root, path)
                mode = server.behaviour.get(path)
                if isinstance(mode, tuple) and mode[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", mode[1])
                    self.send_header("X-Linked-Etag", f'"{mode[2]}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if mode == "stall":
                    time.sleep(5)
                if not os.path.isfile(local):
                    self.send_error(404, "Not Found")
                    return
                with open(local, "rb") as f:
                    body = f.read()
                digest = "0" * 64 if mode == "bad-etag" else hashlib.sha256(body).hexdigest()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                if mode != "cdn":  # a CDN answer carries no hub hash header
                    self.send_header("X-Linked-Etag", f'"{digest}"')
                self.end_headers()
                try:
                    self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if mode == "truncate":
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path, data):
        """Put `data` (bytes) at `path`; returns its URL."""
        local = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "wb") as f:
            f.write(data)
        return f"{self.url}/{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
