"""WebSocket client for sockscope's end-to-end tests (the `websockets` library).

Usage: ws_client.py --url ws[s]://HOST:PORT/PATH [--proxy http://HOST:PORT] [--compression deflate|none]
                    [--cafile FILE]

Sends a fixed set of text and binary messages (sizes 0 to 200 KiB, non-ASCII text, random and
compressible bytes, one message in fragments), waits for each echo and compares it, sends a ping
and waits for its pong, then closes with 1000 "done". With --proxy the connection goes through
that HTTP proxy (websockets >= 15 uses CONNECT). For wss:// URLs, --cafile is the CA to trust
(sockscope's own CA when it intercepts TLS). Prints one JSON line:
{"ok", "sent": [{kind, len, sha256, frames}], "mismatches": [...], "extensions", "close_code"}
and exits 1 when anything did not come back intact.
"""

import argparse
import asyncio
import hashlib
import json
import random
import signal
import ssl
import sys

from websockets.asyncio.client import connect

SIZES = [0, 1, 125, 126, 65535, 65536, 200 * 1024]
PING = b"ping-from-client"
FRAGMENTS = ["frag-one ", "frag-two ", "frag-three \u00e9\u00e8"]


def messages():
    """The messages to send, as (payload, frames) pairs."""
    rnd = random.Random(1234)
    out = []
    for n in SIZES:
        out.append((("sockscope " * (n // 10 + 1))[:n], 1))  # compressible ASCII text
    out.append(("h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001f389 " * 50, 1))  # non-ASCII
    out.append(("\u00e9", 1))
    for n in SIZES:
        out.append((rnd.randbytes(n), 1))  # incompressible binary
    out.append((bytes(100_000), 1))  # compressible binary (zeros)
    return out


def describe(msg, frames=1):
    data = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
    kind = "text" if isinstance(msg, str) else "binary"
    return {"kind": kind, "len": len(data), "sha256": hashlib.sha256(data).hexdigest(), "frames": frames}


async def run(args):
    sent, mismatches = [], []
    compression = "deflate" if args.compression == "deflate" else None
    tls = {}
    if args.url.startswith("wss://"):
        tls["ssl"] = ssl.create_default_context(cafile=args.cafile)
    async with connect(
        args.url,
        **tls,
        proxy=args.proxy,  # None: direct (and ignore any proxy from the environment)
        compression=compression,
        ping_interval=None,
        max_size=16 * 1024 * 1024,
        open_timeout=20,
        close_timeout=10,
    ) as ws:
        for payload, frames in messages():
            await ws.send(payload)
            sent.append(describe(payload, frames))
            echo = await asyncio.wait_for(ws.recv(), 20)
            if echo != payload:
                mismatches.append(describe(payload) | {"echo": describe(echo)})
        # One message in fragments: websockets sends each item of an iterable as a frame, then
        # an empty final frame with FIN set (it cannot know in advance which item is the last).
        whole = "".join(FRAGMENTS)
        await ws.send(FRAGMENTS)
        sent.append(describe(whole, len(FRAGMENTS) + 1))
        echo = await asyncio.wait_for(ws.recv(), 20)
        if echo != whole:
            mismatches.append(describe(whole) | {"echo": describe(echo)})
        pong = await ws.ping(PING)
        await asyncio.wait_for(pong, 20)
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        await ws.close(1000, "done")
        close_code = ws.close_code
    return {
        "ok": not mismatches,
        "sent": sent,
        "mismatches": mismatches,
        "extensions": extensions,
        "close_code": close_code,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--proxy", default=None)
    ap.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    ap.add_argument("--cafile", default=None)
    args = ap.parse_args()
    signal.alarm(120)
    result = asyncio.run(asyncio.wait_for(run(args), 100))
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
