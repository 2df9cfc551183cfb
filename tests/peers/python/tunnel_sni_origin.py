"""HTTPS origin for sockscope's SNI tests (Python's own ssl and http.server).

Usage: tunnel_sni_origin.py --cert FILE --key FILE [--close-after-response]

Serves TLS with the one certificate given on a free loopback port and prints `READY <port>`.
Every GET is answered `200` with a JSON echo of what it really received: the request target,
the Host header and the SNI name of the TLS connection (null when the client sent none).
With --close-after-response it closes each connection once it has answered (without saying so
in a header, as an origin whose keep-alive timer ran out does). Runs until killed; an alarm ends it after 5 minutes in case the test runner died.
"""

import argparse
import json
import signal
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SNI = {}
LOCK = threading.Lock()
CLOSE_AFTER_RESPONSE = False


def remember_sni(sslobj, name, _ctx):
    with LOCK:
        SNI[id(sslobj)] = name


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with LOCK:
            sni = SNI.get(id(self.connection))
        body = json.dumps(
            {"target": self.path, "host": self.headers.get("Host"), "sni": sni},
            sort_keys=True,
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if CLOSE_AFTER_RESPONSE:
            self.close_connection = True

    def log_message(self, *_args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--close-after-response", action="store_true")
    args = ap.parse_args()
    global CLOSE_AFTER_RESPONSE
    CLOSE_AFTER_RESPONSE = args.close_after_response
    signal.alarm(300)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.sni_callback = remember_sni
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
