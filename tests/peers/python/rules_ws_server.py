"""WebSocket server of the rule-engine acceptance tests (the `websockets` library, with its default
permessage-deflate: context takeover both ways).

Usage: rules_ws_server.py [--port 0] [--count 1000] [--compression deflate|none]

Prints `READY <port>`. On a connection: the first message it receives is reported as is
(`first`); then it sends its own `count` messages (rules_ws_common.stream("server")) while it
receives the client's `count`, and when the client closes prints one JSON line:
{"first", "first_kind", "received_count", "received_sha256", "sent_count", "sent_sha256",
 "extensions", "close_code", "close_reason"}. Runs until killed (an alarm ends it after 5 minutes).
"""

import argparse
import asyncio
import json
import signal

from websockets.asyncio.server import serve

from rules_ws_common import Digest, digest_of, stream


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    args = ap.parse_args()
    signal.alarm(300)
    mine = stream("server", args.count)

    async def handler(ws):
        first, received = None, Digest()
        sender = None

        async def send_all():
            for m in mine:
                await ws.send(m)

        try:
            async for msg in ws:
                if first is None:
                    first = msg
                    sender = asyncio.create_task(send_all())
                else:
                    received.add(msg)
            if sender:
                await sender
        except Exception as e:  # noqa: BLE001 - reported, the test decides
            print(json.dumps({"error": repr(e)}), flush=True)
        finally:
            print(
                json.dumps(
                    {
                        "first": first if isinstance(first, str) else None,
                        "first_kind": "text" if isinstance(first, str) else "binary",
                        "received_count": received.count,
                        "received_sha256": received.hex(),
                        "sent_count": len(mine),
                        "sent_sha256": digest_of(mine),
                        "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
                        "close_code": ws.close_code,
                        "close_reason": ws.close_reason,
                    }
                ),
                flush=True,
            )

    compression = "deflate" if args.compression == "deflate" else None
    async with serve(
        handler, "127.0.0.1", args.port, compression=compression, ping_interval=None, max_size=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
