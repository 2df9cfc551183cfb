"""Socket.IO client for sockscope's end-to-end tests (python-socketio, Engine.IO v4).

Usage: sio_client.py --url http://HOST:PORT

Connects with long-polling first and the upgrade to WebSocket (the library default), waits for the
server's 'welcome', calls 'echo' (JSON with non-ASCII text) and 'bin' (1000 bytes) with
acknowledgements, checks what comes back, and disconnects. Prints one JSON line:
{"ok", "transport", "welcome", "echo_ok", "bin_ok", "bin_sha256"} and exits 1 on failure.
"""

import argparse
import hashlib
import json
import signal
import sys
import threading
import time

import socketio

ECHO = {"msg": "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e", "n": 42, "list": [1, 2, 3]}
BIN = bytes((i * 7) % 256 for i in range(1000))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    args = ap.parse_args()
    signal.alarm(100)

    sio = socketio.Client(reconnection=False)
    welcome = {}
    got_welcome = threading.Event()

    @sio.on("welcome")
    def on_welcome(data):
        welcome.update(data)
        got_welcome.set()

    sio.connect(args.url, wait_timeout=20)
    if not got_welcome.wait(20):
        raise SystemExit("no welcome within 20 s")
    # Wait for the upgrade from polling to websocket.
    deadline = time.time() + 20
    while sio.eio.current_transport != "websocket" and time.time() < deadline:
        time.sleep(0.05)
    echo = sio.call("echo", ECHO, timeout=20)
    binr = sio.call("bin", BIN, timeout=20)
    result = {
        "transport": sio.eio.current_transport,
        "welcome": welcome,
        "echo_ok": echo == ECHO,
        "bin_ok": bytes(binr) == BIN,
        "bin_sha256": hashlib.sha256(BIN).hexdigest(),
    }
    result["ok"] = result["echo_ok"] and result["bin_ok"] and result["transport"] == "websocket"
    sio.disconnect()
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
