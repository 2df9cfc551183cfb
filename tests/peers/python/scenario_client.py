"""python-socketio client of sockscope's end-to-end scenarios (tests/scenarios.rs).

It logs what the application's own handlers are told, as JSON lines on stdout, and obeys JSON
commands on stdin.

Usage: scenario_client.py --url URL [--name NAME] [--transports websocket|polling] [--nsps /,/chat]

Lines: {t, app, ev, ...} with ev one of `connect` {nsp, sid, eio_sid}, `disconnect` {nsp,
reason}, `connect_error` {nsp, message}, `ack` {nsp, event, n}, `done` {cmd}.
Commands: {"cmd":"emit","nsp":N} emits 'echo' with an ack; {"cmd":"disconnect"} disconnects the
client; {"cmd":"exit"}.
"""

import argparse
import json
import sys
import threading
import time

import socketio


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--name", default="app")
    p.add_argument("--transports", default="websocket")
    p.add_argument("--nsps", default="/")
    a = p.parse_args()
    lock = threading.Lock()

    def say(**obj):
        with lock:
            print(json.dumps({"t": int(time.time() * 1000), "app": a.name, **obj}), flush=True)

    sio = socketio.Client(reconnection=True)
    nsps = a.nsps.split(",")

    for nsp in nsps:

        def handlers(nsp=nsp):
            @sio.on("connect", namespace=nsp)
            def on_connect():
                say(ev="connect", nsp=nsp, sid=sio.get_sid(nsp), eio_sid=sio.eio.sid)

            @sio.on("disconnect", namespace=nsp)
            def on_disconnect(reason=None):
                say(ev="disconnect", nsp=nsp, reason=reason)

            @sio.on("connect_error", namespace=nsp)
            def on_connect_error(data=None):
                say(ev="connect_error", nsp=nsp, message=str(data))

        handlers()

    sio.connect(a.url, namespaces=nsps, transports=[a.transports])
    acks = [0]
    for line in sys.stdin:
        try:
            c = json.loads(line)
        except ValueError:
            say(ev="bad_command", line=line)
            continue
        cmd = c.get("cmd")
        if cmd == "emit":
            acks[0] += 1
            n = acks[0]
            nsp = c.get("nsp", "/")
            sio.emit(
                "echo",
                "x" * c.get("bytes", 5),
                namespace=nsp,
                callback=lambda *_a, n=n, nsp=nsp: say(ev="ack", nsp=nsp, event="echo", n=n),
            )
        elif cmd == "disconnect":
            sio.disconnect()
        elif cmd == "exit":
            break
        say(ev="done", cmd=cmd)
    sio.disconnect()


if __name__ == "__main__":
    main()
