#!/usr/bin/env python3
"""range-server.py DIR PORT CERT KEY: an https server on 127.0.0.1:PORT serving DIR with
Range requests (206), for the update download's resume test. It logs each request's
path and Range header to DIR/requests.log."""
import http.server, os, ssl, sys

root, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        rng = self.headers.get("Range")
        with open(os.path.join(root, "requests.log"), "a") as log:
            log.write(f"{self.path} {rng or '-'}\n")
        data = open(os.path.join(root, self.path.lstrip("/")), "rb").read()
        start = 0
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", port), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
