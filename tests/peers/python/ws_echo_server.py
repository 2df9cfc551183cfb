"""WebSocket echo server for sockscope's end-to-end tests (the `websockets` library).

Usage: ws_echo_server.py [--port 0] [--compression deflate|none]

Prints `READY <port>` once listening. Echoes every message back with its type (one frame each),
answers pings (the library does), and when a connection ends prints one JSON line describing what
it received: {"closed": true, "path", "extensions", "close_code", "received": [{kind, len, sha256}]}.
Runs until killed; an alarm ends it after 5 minutes in case the test runner died.
"""

import argparse
import asyncio
import hashlib
import json
import signal

from websockets.asyncio.server import serve


def describe(msg):
    data = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
    kind = "text" if isinstance(msg, str) else "binary"
    return {"kind": kind, "len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    args = ap.parse_args()
    signal.alarm(300)

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
        ping_interval=None,  # no keepalive pings: the capture holds only the test's own
        max_size=16 * 1024 * 1024,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
