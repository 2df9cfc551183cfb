"""Both ends of the injection test (tests/control_inject.rs): the `websockets` library with its
default permessage-deflate (context takeover both ways), so messages the proxy injects land in a
live compressed connection.

Usage: rules_ws_inject.py --role server [--port 0]
       rules_ws_inject.py --role client --url ws://HOST:PORT/PATH

Each end sends `--warm` app messages (so the compression contexts are in use), then waits for
`--inject` messages the proxy injects ("INJ-<role>-<i>", in order), then sends `--count` app
messages of rules_ws_common.stream(role) while it receives the other end's, once a line arrives
on stdin (the test sends it when both ends have their injected messages). It prints JSON lines:
{"ev": "warm_done"} once it has received the other end's warm-up messages, {"ev": "injected",
"ok": bool, "count": N, "bad": ...} once the injected messages are in, and finally {"ev": "done",
"sent_count", "sent_sha256", "received_count", "received_sha256", "extensions"}. The server
prints `READY <port>` first.
"""

import argparse
import asyncio
import json
import signal
import sys

from rules_ws_common import Digest, digest_of, stream


def say(obj):
    print(json.dumps(obj), flush=True)


async def converse(ws, role, args, extensions):
    other = "client" if role == "server" else "server"
    warm_mine = [f"warm {role} {i} " + "x" * (i % 40) for i in range(args.warm)]
    for m in warm_mine:
        await ws.send(m)
    for i in range(args.warm):
        m = await asyncio.wait_for(ws.recv(), 20)
        if m != f"warm {other} {i} " + "x" * (i % 40):
            say({"ev": "warm_bad", "i": i, "got": repr(m)[:80]})
    say({"ev": "warm_done"})
    bad = None
    for i in range(args.inject):
        m = await asyncio.wait_for(ws.recv(), 60)
        want = f"INJ-{role}-{i}"
        if m != want and bad is None:
            bad = {"i": i, "got": repr(m)[:80], "want": want}
    say({"ev": "injected", "ok": bad is None, "count": args.inject, "bad": bad})
    # Both ends go on together (a line on stdin), so app messages never overtake injections.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    mine = stream(role, args.count)
    received = Digest()

    async def send_all():
        for m in mine:
            await ws.send(m)

    sender = asyncio.create_task(send_all())
    while received.count < args.count:
        received.add(await asyncio.wait_for(ws.recv(), 20))
    await sender
    say(
        {
            "ev": "done",
            "sent_count": len(mine),
            "sent_sha256": digest_of(mine),
            "received_count": received.count,
            "received_sha256": received.hex(),
            "extensions": extensions,
        }
    )


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["server", "client"], required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--url")
    ap.add_argument("--warm", type=int, default=50)
    ap.add_argument("--inject", type=int, default=100)
    ap.add_argument("--count", type=int, default=1000)
    args = ap.parse_args()
    signal.alarm(300)
    if args.role == "server":
        from websockets.asyncio.server import serve

        async def handler(ws):
            try:
                await converse(ws, "server", args, ws.response.headers.get("Sec-WebSocket-Extensions"))
                await ws.wait_closed()
            except Exception as e:  # noqa: BLE001 - reported, the test decides
                say({"ev": "error", "error": repr(e)})

        async with serve(handler, "127.0.0.1", args.port, ping_interval=None, max_size=None) as server:
            print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
            await asyncio.Future()
    else:
        from websockets.asyncio.client import connect

        async with connect(args.url, proxy=None, ping_interval=None, max_size=None, open_timeout=20) as ws:
            await converse(ws, "client", args, ws.response.headers.get("Sec-WebSocket-Extensions"))
            await ws.close(1000, "done")


if __name__ == "__main__":
    asyncio.run(main())
