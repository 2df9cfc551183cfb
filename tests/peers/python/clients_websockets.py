"""An unmodified `websockets` program for `sockscope run -- python clients_websockets.py --url wss://...`.

Connects with the library's defaults (no proxy, no SSL context given: websockets >= 15 takes the
proxy from HTTPS_PROXY, and the default SSL context trusts SSL_CERT_FILE, which `sockscope run`
sets), sends one text and one binary message to the echo endpoint, checks the echoes and closes
with 1000. Prints one JSON line {"ok", "text", "binary", "close_code"} and exits 1 on failure.
"""

import argparse
import asyncio
import json
import signal
import sys

from websockets.asyncio.client import connect

TEXT = "python through sockscope \u2713"
BINARY = bytes([0, 1, 2, 0xFE, 0xFF])


async def run(url):
    async with connect(url, open_timeout=20) as ws:
        await ws.send(TEXT)
        text = await asyncio.wait_for(ws.recv(), 20)
        await ws.send(BINARY)
        binary = await asyncio.wait_for(ws.recv(), 20)
        await ws.close(1000, "done")
        return {
            "text": text,
            "binary": bytes(binary).hex(),
            "close_code": ws.close_code,
        }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    args = ap.parse_args()
    signal.alarm(60)
    r = asyncio.run(run(args.url))
    r["ok"] = r["text"] == TEXT and r["binary"] == BINARY.hex() and r["close_code"] == 1000
    print(json.dumps(r), flush=True)
    sys.exit(0 if r["ok"] else 1)


if __name__ == "__main__":
    main()
