"""A scripted HTTP server on 127.0.0.1 that serves one clip, for stream drop / reconnect tests.

Each request takes the next plan (the whole clip once the plans run out):
- None or "full": the whole clip;
- an int n: n bytes, then the connection closes (a drop);
- ("stall", n): n bytes, then nothing until the server stops (only the client's timeout ends it);
- "down": a 503 answer (the stream is not there: the open fails).
`requests` counts the requests, so tests check exact reconnection attempts without a clock.
"""

from __future__ import annotations

import http.server
import threading


class ClipServer:
    def __init__(self, data: bytes, plans, name: str = "clip-server"):
        self.data, self.plans, self.requests = data, list(plans), 0
        self.stopping = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                plan = server.plans.pop(0) if server.plans else None
                if plan == "down":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.send_header("Content-Length", str(len(server.data)))
                self.end_headers()
                try:
                    if isinstance(plan, tuple):
                        self.wfile.write(server.data[: plan[1]])
                        self.wfile.flush()
                        server.stopping.wait()  # until the test ends: only the client can end it
                    else:
                        self.wfile.write(server.data if plan in (None, "full") else server.data[:plan])
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/clip.avi"

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
