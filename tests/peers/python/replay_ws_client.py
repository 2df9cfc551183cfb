"""Plain WebSocket client of sockscope's replay and mock tests (tests/replay_ws.rs), the
counterpart of replay_ws_server.py, with the `websockets` library and permessage-deflate on.

Usage: replay_ws_client.py --url ws://HOST:PORT/PATH [--expect FILE]

Offers the subprotocol `chat.v1`; reads the greeting, sends {"op": "add", ...} twice, a text, a
binary message and a compressible 20 KB text, reading one answer after each, then closes. Prints
{"ev": "result", "told": [...], "protocol", "extensions", "verdict"?}: what it received (binary as
{"_buf": base64}); with --expect FILE (an earlier `told`) the verdict says whether it got the same.
"""

import argparse
import asyncio
import base64
import json
import signal

from websockets.asyncio.client import connect


def plain(m):
    if isinstance(m, str):
        return m
    return {"_buf": base64.b64encode(bytes(m)).decode()}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--expect", default=None)
    args = ap.parse_args()
    signal.alarm(60)
    told = []
    async with connect(args.url, subprotocols=["chat.v1"], compression="deflate") as ws:
        told.append(plain(await ws.recv()))
        for m in [
            json.dumps({"op": "add", "a": 1, "b": 2}),
            json.dumps({"op": "add", "a": 10, "b": 20}),
            "plain words",
            bytes([0, 1, 2, 255]),
            "sockscope " * 2000,
        ]:
            await ws.send(m)
            told.append(plain(await ws.recv()))
        protocol = ws.subprotocol
        extensions = [type(e).__name__ for e in ws.protocol.extensions]
    result = {"ev": "result", "told": told, "protocol": protocol, "extensions": extensions}
    if args.expect:
        expected = json.load(open(args.expect))
        result["verdict"] = {"ok": expected == told, "detail": None if expected == told else f"expected {expected!r}"[:400]}
    print(json.dumps(result), flush=True)


asyncio.run(main())
