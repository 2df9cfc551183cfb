"""Plain WebSocket server of sockscope's replay and mock tests (tests/replay_ws.rs), with the
`websockets` library and permessage-deflate on.

Usage: replay_ws_server.py [--port 0] [--variant recorded|changed] [--expect FILE] [--told FILE]

Selects the subprotocol `chat.v1` when offered. Greets each connection with the text
{"hello": "there"}; answers {"op": "add", "a": A, "b": B} with {"sum": A+B} ({"sum": A+B+1} with
--variant changed), any other text with {"echo": TEXT}, a binary message with its bytes
reversed. Prints `READY <port>`, then one JSON line {"ev": "told", "told": ...} per message
received (binary as {"_buf": base64}); --told FILE keeps the list in FILE; with --expect FILE
(an earlier list) it prints {"ev": "verdict", "ok", "detail"} once told as many messages.
"""

import argparse
import asyncio
import base64
import json
import signal

from websockets.asyncio.server import serve


def plain(m):
    if isinstance(m, str):
        return m
    return {"_buf": base64.b64encode(bytes(m)).decode()}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--variant", default="recorded")
    ap.add_argument("--expect", default=None)
    ap.add_argument("--told", default=None)
    args = ap.parse_args()
    signal.alarm(120)
    expected = json.load(open(args.expect)) if args.expect else None
    told = []

    def tell(m):
        told.append(plain(m))
        print(json.dumps({"ev": "told", "told": plain(m)}), flush=True)
        if args.told:
            with open(args.told, "w") as f:
                json.dump(told, f)
        if expected is not None and len(told) >= len(expected):
            detail = None
            for i, (a, b) in enumerate(zip(expected, told)):
                if a != b:
                    detail = f"#{i}: expected {a!r} got {b!r}"
                    break
            if detail is None and len(told) != len(expected):
                detail = f"told {len(told)} messages, expected {len(expected)}"
            print(json.dumps({"ev": "verdict", "ok": detail is None, "detail": detail}), flush=True)

    async def handler(ws):
        await ws.send(json.dumps({"hello": "there"}))
        async for m in ws:
            tell(m)
            if isinstance(m, bytes):
                await ws.send(bytes(reversed(m)))
                continue
            try:
                v = json.loads(m)
            except ValueError:
                v = None
            if isinstance(v, dict) and v.get("op") == "add":
                s = v["a"] + v["b"] + (1 if args.variant == "changed" else 0)
                await ws.send(json.dumps({"sum": s}))
            else:
                await ws.send(json.dumps({"echo": m}))

    async with serve(handler, "127.0.0.1", args.port, subprotocols=["chat.v1"], compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.Future()


asyncio.run(main())
