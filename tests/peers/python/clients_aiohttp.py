"""An unmodified aiohttp program for `sockscope run -- python clients_aiohttp.py --url https://HOST:PORT`.

With the library's defaults (no proxy, no trust_env, no SSL context given): GET /hello with an
aiohttp ClientSession, a WebSocket echo at /echo with ws_connect, then python-socketio's asyncio
client (which runs on aiohttp) connecting, waiting for 'welcome' and calling 'echo' with an ack.
Prints one JSON line {"ok", "hello", "ws_text", "sio_echo_ok", "sio_transport"} and exits 1 on
failure.
"""

import argparse
import asyncio
import json
import signal
import sys

import aiohttp
import socketio

ECHO = {"msg": "aiohttp through sockscope \u2713", "n": 42}


async def run(base):
    r = {}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/hello") as resp:
            r["hello"] = await resp.text()
        ws_url = base.replace("https://", "wss://", 1) + "/echo"
        async with session.ws_connect(ws_url) as ws:
            await ws.send_str("aiohttp ws \u2713")
            msg = await asyncio.wait_for(ws.receive(), 20)
            r["ws_text"] = msg.data
            await ws.close()
    sio = socketio.AsyncClient(reconnection=False)
    welcome = asyncio.get_running_loop().create_future()
    sio.on("welcome", lambda data: welcome.done() or welcome.set_result(data))
    await sio.connect(base, wait_timeout=20)
    await asyncio.wait_for(welcome, 20)
    for _ in range(200):
        if sio.transport() == "websocket":
            break
        await asyncio.sleep(0.05)
    echo = await sio.call("echo", ECHO, timeout=20)
    r["sio_echo_ok"] = echo == ECHO
    r["sio_transport"] = sio.transport()
    await sio.disconnect()
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    args = ap.parse_args()
    signal.alarm(60)
    r = asyncio.run(run(args.url))
    r["ok"] = (
        r["hello"] == "hello from the origin\n"
        and r["ws_text"] == "aiohttp ws \u2713"
        and r["sio_echo_ok"]
        and r["sio_transport"] == "websocket"
    )
    print(json.dumps(r), flush=True)
    sys.exit(0 if r["ok"] else 1)


if __name__ == "__main__":
    main()
