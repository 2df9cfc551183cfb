"""WebSocket client of the rule-engine acceptance tests (the `websockets` library, with its
default permessage-deflate: context takeover both ways).

Usage: rules_ws_client.py --url ws://HOST:PORT/PATH [--count 1000] [--first TEXT]
                          [--compression deflate|none]

Sends `--first` (default "REPLACE-ME: the first message"), then its `count` messages
(rules_ws_common.stream("client")) while it receives the server's `count`, then closes with 1000
"done". Prints one JSON line: {"sent_count", "sent_sha256", "received_count",
"received_sha256", "extensions", "close_code"}.
"""

import argparse
import asyncio
import json
import signal

from websockets.asyncio.client import connect

from rules_ws_common import Digest, digest_of, stream


async def run(args):
    mine = stream("client", args.count)
    received = Digest()
    compression = "deflate" if args.compression == "deflate" else None
    async with connect(
        args.url,
        proxy=None,
        compression=compression,
        ping_interval=None,
        max_size=None,
        open_timeout=20,
        close_timeout=10,
    ) as ws:
        await ws.send(args.first)

        async def send_all():
            for m in mine:
                await ws.send(m)

        sender = asyncio.create_task(send_all())
        while received.count < args.count:
            received.add(await asyncio.wait_for(ws.recv(), 20))
        await sender
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        await ws.close(1000, "done")
        close_code = ws.close_code
    return {
        "sent_count": len(mine),
        "sent_sha256": digest_of(mine),
        "received_count": received.count,
        "received_sha256": received.hex(),
        "extensions": extensions,
        "close_code": close_code,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--first", default="REPLACE-ME: the first message")
    ap.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    args = ap.parse_args()
    signal.alarm(120)
    result = asyncio.run(asyncio.wait_for(run(args), 100))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
