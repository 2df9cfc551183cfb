"""WebSocket echo server for sockscope's end-to-end tests (the `websockets` library).

Usage: ws_echo_server.py [--port 0] [--compression deflate|none] [--cert FILE --key FILE]

With --cert/--key it serves TLS (wss:// and https://). Prints `READY <port>` once listening. A
plain HTTP GET of /hello (no upgrade) is answered `200 hello from the origin`. Echoes every message back with its type (one frame each),
answers pings (the library does), and when a connection ends prints one JSON line describing what
it received: {"closed": true, "path", "extensions", "close_code", "received": [{kind, len, sha256}]}.
Runs until killed; an alarm ends it after 5 minutes in case the test runner died.
"""

import argparse
import asyncio
import hashlib
import json
import signal
import ssl
from http import HTTPStatus

from websockets.asyncio.server import serve


def describe(msg):
    data = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
    kind = "text" if isinstance(msg, str) else "binary"
    return {"kind": kind, "len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    ap.add_argument("--cert", default=None)
    ap.add_argument("--key", default=None)
    args = ap.parse_args()
    signal.alarm(300)

    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)

    def plain_http(connection, request):
        # Non-WebSocket requests: /hello gets a small page, anything else the library's 426.
        if request.path == "/hello" and "upgrade" not in request.headers.get("Connection", "").lower():
            return connection.respond(HTTPStatus.OK, "hello from the origin\n")
        return None

    async def echo(ws):
        received = []
        try:
            async for msg in ws:
                received.append(describe(msg))
                await ws.send(msg)
        finally:
            print(
                json.dumps(
                    {
                        "closed": True,
                        "path": ws.request.path,
                        "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
                        "close_code": ws.close_code,
                        "received": received,
                    }
                ),
                flush=True,
            )

    compression = "deflate" if args.compression == "deflate" else None
    async with serve(
        echo,
        "127.0.0.1",
        args.port,
        compression=compression,
        ssl=tls,
        process_request=plain_http,
        ping_interval=None,  # no keepalive pings: the capture holds only the test's own
        max_size=16 * 1024 * 1024,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
