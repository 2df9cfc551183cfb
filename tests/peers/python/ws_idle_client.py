"""An idle WebSocket client for sockscope's timeout tests (the `websockets` library).

Usage: ws_idle_client.py --url ws://HOST:PORT/PATH --idle SECONDS

Sends "before", reads its echo, then stays silent for SECONDS (no keepalive pings), then sends
"after" and reads its echo. Prints one JSON line {"ok", "before", "after", "error"}: a proxy that
cut the quiet connection makes the second exchange fail.
"""

import argparse
import asyncio
import json

from websockets.asyncio.client import connect


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--idle", type=float, required=True)
    a = ap.parse_args()
    out = {"before": None, "after": None, "error": None}
    try:
        async with connect(a.url, ping_interval=None, open_timeout=20) as ws:
            await ws.send("before")
            out["before"] = await asyncio.wait_for(ws.recv(), 20)
            await asyncio.sleep(a.idle)
            await ws.send("after")
            out["after"] = await asyncio.wait_for(ws.recv(), 20)
    except Exception as e:  # the result line says what failed
        out["error"] = f"{type(e).__name__}: {e}"
    out["ok"] = out["before"] == "before" and out["after"] == "after" and out["error"] is None
    print(json.dumps(out), flush=True)
    raise SystemExit(0 if out["ok"] else 1)


asyncio.run(main())
