#!/usr/bin/env python3
"""Writes the seed corpora of the acting-path targets (rule_parse, intercept_ws,
deflate_takeover, polling_reframe, session_stage, control_body) under fuzz/seeds/TARGET/, each in
the input layout its check reads (see fuzz/src/checks/). The output is committed; re-run only when
a layout changes."""

import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- rule_parse: rule texts ----------------------------------------------------------------------
RULES = [
    "=> drop",
    "kind:eio event:pong dir:c2s => drop",
    "kind:req /transport=websocket/ => respond 400",
    'event:order dir:c2s => replace /"qty":\\d+/ "qty":0',
    'event:order => set-args [{"qty":0,"note":"a b"}]',
    'kind:text /fatal/i => close 1011 "bye bye"',
    'kind:req => respond 400 {"code":1,"message":"Session ID unknown"}',
    "event:tick p=0.2 => drop times=3 after=1.5s for=10s",
    '-"a => b" "two words" event:"x y" ns:/admin session:abc conn:1,2 => pass',
    "/a\\/b\\\\/ => replace /c\\/d/ e\\f",
    "=> delay 200ms±50ms",
    "=> throttle 64kbit/s",
    "=> duplicate 2",
    "=> kill rst",
    "kind:text,binary -dir:s2c => hold",
    "kind:eio event:ping dir:s2c => delay 2s p=0.5",
    "# a comment\n=> pass\nkind:text => drop times=1",
]
for i, r in enumerate(RULES):
    write("rule_parse", "%02d" % i, r)

# --- intercept_ws: [flags][deflate][windows][mode][rules: match, action]...[traffic] -------------
def built(kinds):
    out = b""
    for kind, data in kinds:
        out += bytes([kind, len(data)]) + data
    return out

TRAFFIC = built([(0, b"hello a"), (1, b"\x00\x01\x02"), (2 | 0x40 | 4, b"fragmented text a"),
                 (3, b"ping"), (8, b"compressed aaaa"), (8 | 2 | 0x80, b"compressed fragments aaaaaaa")])
EIO = built([(0x00, b"hi a"), (0x10, b""), (0x20, b""), (0x30, b"\x01\x02\x03"), (0x08, b"zipped aaaa")])
for name, flags, mode, rules, traffic in [
    ("plain_norules", 0x00, 0x04, b"", TRAFFIC),
    ("plain_drop_text", 0x01, 0x04 | 1, bytes([1, 0]), TRAFFIC),
    ("deflate_replace", 0x02, 0x04 | 1 | 0x18, bytes([0, 6]), TRAFFIC),
    ("deflate_nct_dup_hold", 0x03, 0x04 | 2 | 0x80, bytes([1, 5, 2, 4]), TRAFFIC),
    ("eio_pong_drop", 0x05, 0x04 | 1, bytes([4, 0]), EIO),
    ("eio_setargs", 0x04, 0x04 | 2, bytes([5, 8, 8, 6]), EIO),
    ("eio_delay_throttle", 0x06, 0x04 | 2 | 0x28, bytes([0, 2, 3, 9]), EIO),
    ("eio3_close", 0x0d, 0x04 | 1, bytes([5, 10]), EIO),
    ("kill", 0x00, 0x04 | 1, bytes([2, 11]), TRAFFIC),
    ("raw", 0x01, 0x00, b"", b"\x81\x05hello\x89\x00\x82\x02ab\x88\x02\x03\xe8"),
    ("raw_masked_hold", 0x00, 0x01 | 0x08, bytes([0, 4]), b"\x81\x85\x01\x02\x03\x04iglop\x81\x81\x00\x00\x00\x00a"),
]:
    write("intercept_ws", name, bytes([flags, 0x03, 0x5a, mode]) + rules + traffic)

# --- deflate_takeover: [dir/takeover][windows][level][chunk][kind, len, bytes, decision]... -------
def msgs(items):
    out = b""
    for kind, data, decision in items:
        out += bytes([kind, len(data)]) + data + bytes([decision])
    return out

BODY = b'{"seq":%d,"body":"lorem ipsum dolor lorem ipsum dolor aaaa"}'
ITEMS = [(0, BODY % 0, 0), (0, BODY % 1, 1), (0, BODY % 2, 2), (0, BODY % 3, 3), (0, BODY % 4, 4),
         (0, BODY % 5, 5), (0x14 | 8, BODY % 6, 4 | 0x10), (1, b"\x00\x01\x02aaaa", 0), (2, BODY % 8, 2),
         (0, BODY % 9, 4 | 0x08)]
for name, flags, windows in [("c2s_takeover_15", 0, 0x66), ("s2c_takeover_15", 1, 0x66),
                             ("c2s_nct", 0x06, 0x66), ("s2c_window9", 1, 0x00), ("mixed", 0x05, 0x38),
                             ("default_bits", 0, 0x88)]:
    write("deflate_takeover", name, bytes([flags, windows, 6, 7]) + msgs(ITEMS))

# --- polling_reframe: [form][index][kind, len, bytes]... -------------------------------------------
PACKETS = bytes([4, 9]) + b'2["a",1]x' + bytes([2, 0]) + bytes([3, 5]) + b"probe" + bytes([0x84, 3]) + b"\x01\x02\x03" + bytes([6, 0])
for form in range(7):
    write("polling_reframe", "form%d" % form, bytes([form, 3]) + PACKETS)
write("polling_reframe", "v3_unicode", bytes([1, 0]) + bytes([4, 8]) + "é😀\u2028".encode()[:8])
write("polling_reframe", "v4_binary_open", bytes([0, 0]) + bytes([0x80, 2]) + b"\xff\x00")

# --- session_stage: [op][arg][...]... ----------------------------------------------------------------
def op(o, a, extra=b""):
    return bytes([o, a]) + extra

def text(o, a, s):
    s = s.encode()
    return bytes([o, a, len(s)]) + s

# conn 1, sid AAAA (a>>4 == 0), EIO4: handshake, 200, open packet, upgrade, messages, close.
POLL = (op(0, 1) + op(1, 1) + op(3, 1) + op(4, 1, bytes([250, 200])) + op(2, 1 | 0x08) +
        text(5, 1, "40") + op(3, 1) + op(6, 2 | 0x08) + text(7, 2, "2probe") + text(7, 3, "3probe") +
        text(7, 2, "5") + text(7, 2, '42["chat","hi"]') + text(7, 3, '430["ok"]') + op(10, 2 | 0x08) +
        op(13, 2 | 0x10, bytes([1])) + op(14, 2, bytes([1])) + op(15, 0, struct.pack("<H", 30)) +
        text(8, 3, '451-["up",{"_placeholder":true,"num":0}]') + op(9, 3, bytes([3, 1, 2, 3])) +
        op(11, 2 | 0x80) + op(12, 2) + op(15, 0, struct.pack("<H", 100)))
write("session_stage", "polling_upgrade", POLL)
WSONLY = (op(0, 3) + op(6, 3) + text(7, 3 | 0x08, '0{"sid":"BBBB","pingInterval":100,"pingTimeout":50}') +
          text(7, 3, "40") + text(7, 3 | 0x08, '40{"sid":"x","pid":"p1"}') + op(15, 0, struct.pack("<H", 1)) +
          text(7, 3 | 0x08, "2") + op(15, 0, struct.pack("<H", 5)) + op(12, 3) + op(0, 4) + op(6, 4) +
          text(7, 4 | 0x08, '0{"sid":"CCCC","pingInterval":100,"pingTimeout":50}') +
          text(7, 4, '40{"pid":"p1","offset":"o"}'))
write("session_stage", "ws_only_reconnect", WSONLY)
write("session_stage", "eio3", op(0, 0) + op(1, 0 | 0x08 << 0) + op(3, 0) + op(4, 0, bytes([25, 20])) + text(5, 0, "97:0{}"))

# --- control_body: [kind][json] ----------------------------------------------------------------------
BODIES = [
    (0, {"rule": "kind:eio event:pong => drop"}),
    (0, {"rule": "=> hold", "source": "cli"}),
    (0, {"rule": "bad => nope"}),
    (1, {}),
    (1, {"drop": True}),
    (1, {"args": [1, {"x": 2}]}),
    (1, {"text": "edited"}),
    (1, {"base64": "AQID"}),
    (1, {"status": 500, "headers": [["x-a", "b"]], "body": "no"}),
    (2, {"conn": 1, "to": "client", "text": "hello"}),
    (2, {"conn": 1, "to": "server", "base64": "AAEC"}),
    (3, {"conn": 1, "to": "client", "event": "news", "args": [1, {"$binary": "AQID"}], "ack": True}),
    (4, {"session": "s1", "to": "server", "event": "chat", "nsp": "/", "args": ["hi", {"deep": [{"$binary": ""}]}]}),
    (4, {"conn": 1, "to": "client", "event": "x", "nsp": "/admin"}),
]
for i, (kind, body) in enumerate(BODIES):
    write("control_body", "%02d" % i, bytes([kind]) + json.dumps(body).encode())
