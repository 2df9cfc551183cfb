#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/TARGET/ from the test vectors of
shared/protocols.md section 7 (numbers in the file names are the vector numbers), each with the
parameter bytes its target reads first (see fuzz/src/checks/). Run from anywhere; the output is
committed, so this only needs re-running when the vectors or the input layouts change."""

import base64
import gzip
import json
import os
import shutil
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def h(s):
    return bytes.fromhex(s)


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- WebSocket (7.5, 7.6) ----------------------------------------------------------------------
C2S, S2C = 0, 1
NONE, TAKEOVER, NO_TAKEOVER = 0, 1 << 1, 2 << 1

frames = {
    "54_text": (S2C, NONE, h("81 05 48 65 6c 6c 6f")),
    "55_masked": (C2S, NONE, h("81 85 37 fa 21 3d 7f 9f 4d 51 58")),
    "56_fragmented": (S2C, NONE, h("01 03 48 65 6c 80 02 6c 6f")),
    "57_ping": (S2C, NONE, h("89 05 48 65 6c 6c 6f")),
    "57_masked_pong": (C2S, NONE, h("8a 85 37 fa 21 3d 7f 9f 4d 51 58")),
    "58_len16": (S2C, NONE, h("82 7e 01 00") + bytes(range(256))),
    "58_len64_cut": (S2C, NONE, h("82 7f 00 00 00 00 00 01 00 00") + b"\x00" * 64),
    "59_2probe": (C2S, NONE, h("81 86 01 02 03 04 33 72 71 6b 63 67")),
    "60_event": (C2S, NONE, h("81 8b aa bb cc dd 9e 89 97 ff c2 de a0 b1 c5 99 91")),
    "61_close_masked": (C2S, NONE, h("88 82 01 02 03 04 02 ea")),
    "61_close_bye": (S2C, NONE, h("88 05 03 e9 62 79 65")),
    "62_ping_inside": (S2C, NONE, h("01 03 48 65 6c 89 00 80 02 6c 6f")),
    "63_deflate": (S2C, TAKEOVER, h("c1 07 f2 48 cd c9 c9 07 00")),
    "64_deflate_fragments": (S2C, TAKEOVER, h("41 03 f2 48 cd 80 04 c9 c9 07 00")),
    "65_takeover": (S2C, TAKEOVER, h("c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00")),
    "65_no_takeover_fails": (S2C, NO_TAKEOVER, h("c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00")),
    "66_stored": (S2C, TAKEOVER, h("c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00")),
    "67_bfinal": (S2C, NO_TAKEOVER, h("c1 08 f3 48 cd c9 c9 07 00 00")),
    "68_two_blocks": (S2C, TAKEOVER, h("c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00")),
    "69_empty": (S2C, TAKEOVER, h("c1 01 00")),
    "70_jetty": (S2C, TAKEOVER, h("41 0c f2 48 cd c9 c9 57 00 00 00 00 ff ff 00 0b 0a cf 2f ca 49 01 00 00 00 ff ff 80 03 52 04 00")),
    "71_zlib": (S2C, NO_TAKEOVER, h("c1 0d 32 31 8a 56 ca 48 cd c9 c9 57 8a 05 00")),
}
for name, (direction, deflate, data) in frames.items():
    write("ws_frame_header", name, data)
    split = len(data) // 2
    write("ws_decoder", name, bytes([direction | deflate]) + struct.pack("<H", split) + data)
    # The small decode cap too.
    write("ws_decoder", name + "_cap", bytes([direction | deflate | 8]) + struct.pack("<H", 3) + data)
write("ws_frame_header", "length_msb", h("82 7f 80 00 00 00 00 00 00 01"))
write("ws_frame_header", "non_minimal", h("81 7e 00 7c"))

# ws_roundtrip: [cfg][flags len payload cuts mask...]: a few shapes.
write("ws_roundtrip", "plain_c2s", bytes([0x00, 0x00, 5]) + b"hello" + bytes([1, 2]))
write("ws_roundtrip", "deflate_takeover_s2c", bytes([0x23, 0x08, 11]) + b"hello hello" + bytes([0x0a, 40]) + b"x" * 40 + bytes([7]))
write("ws_roundtrip", "deflate_no_takeover_frag", bytes([0x44, 0x1e, 20]) + b"abcdefghijabcdefghij" + bytes([3, 9, 1, 2]))
write("ws_roundtrip", "binary_big", bytes([0x11, 0xc1, 200]) + bytes(range(200)) + bytes([4, 5]))

# --- Engine.IO (7.1, 7.2) ----------------------------------------------------------------------
V4, V3 = 0, 1
open4 = '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
packets = {
    "01_open": (V4, open4.encode()),
    "02_ping": (V4, b"2"),
    "03_probe": (V4, b"2probe"),
    "03_upgrade": (V4, b"5"),
    "04_message": (V4, b"4hello"),
    "05_empty_message": (V4, b"4"),
    "07_b64": (V4, b"bAQIDBA=="),
    "10_v4_binary": (V4, h("01 02 03 04")),
    "11_bad": (V4, b"a123"),
    "17_v3_b64": (V3, b"b4AQIDBA=="),
    "22_v3_binary": (V3, h("04 01 02 03 04")),
    "euro": (V4, "4€😀".encode()),
}
for name, (v, data) in packets.items():
    write("eio_packet", name, bytes([v]) + data)

OCTETS, TEXT, FORM = 1 << 1, 2 << 1, 3 << 1
BINFMT = 1 << 3
open3 = '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}'
payloads = {
    "06_v4": (V4 | TEXT, b"4hello\x1e2\x1e4world"),
    "07_v4_b64": (V4 | TEXT, b"4hello\x1ebAQIDBA=="),
    "08_v4": (V4, b"0\x1e1\x1e2probe\x1e3probe\x1e4test"),
    "09_v4": (V4, b"4test1\x1e4test2\x1e4test3"),
    "12_v3_open": (V3 | TEXT, ("96:" + open3).encode()),
    "13_v3_open_connect": (V3 | TEXT, ("96:" + open3 + "2:40").encode()),
    "14_v3": (V3, b"6:4hello6:4world"),
    "15_v3_utf16": (V3, "4:4€€€2:4α".encode()),
    "16_v3_surrogate": (V3, "3:4😀".encode()),
    "17_v3_b64": (V3, b"6:4hello10:b4AQIDBA=="),
    "19_v3_noop": (V3, b"1:6"),
    "20_v3_binary": (V3 | OCTETS | BINFMT, h("00 06 ff 34 68 65 6c 6c 6f 01 05 ff 04 01 02 03 04")),
    "21_v3_binary_utf8": (V3 | OCTETS | BINFMT, h("00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04")),
    "23_v3_bad": (V3, b"3:99:"),
    "52_v3_events": (V3, b'11:42["hello"]11:42["world"]'),
    "jsonp": (V3, b'___eio[0]("6:4hello");'),
    "form": (V3 | FORM, b"d=6%3A4hello"),
}
for name, (flags, data) in payloads.items():
    write("eio_polling", name, bytes([flags]) + struct.pack("<H", len(data) // 2) + data)

# --- Socket.IO (7.3, 7.4) ----------------------------------------------------------------------
SV5, SV4 = 0, 1
MAX10 = 10 << 1
sio = [
    (SV5, "24", "0"), (SV5, "25", '0{"token":"123"}'), (SV5, "27", '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'),
    (SV5, "28", "0/custom"), (SV5, "29", '4{"message":"Not authorized"}'), (SV5, "31", "1/admin,"),
    (SV5, "32", '2/admin,["bar"]'), (SV5, "34", '212["foo"]'), (SV5, "35", '3/admin,13["bar"]'),
    (SV5, "36", '2456["message-with-ack",1,"2",{"3":[false]}]'),
    (SV5, "37", '51-["baz",{"_placeholder":true,"num":0}]'),
    (SV5, "38", '52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'),
    (SV5, "43", '2[{"toString":"foo"}]'), (SV5, "44", "51.23-"), (SV5, "float", '2["n",1.5e300,-0.1]'),
    (SV4, "48", "0/admin?token=1234&uid=abcd,"), (SV4, "49", '4/admin,"Not authorized"'),
    (SV4, "50", '2/admin,456["project:delete",123]'),
    (SV4, "51", '51-/admin,456["project:delete",{"_placeholder":true,"num":0}]'),
]
for v, name, text in sio:
    write("sio_packet", name, bytes([v | MAX10]) + text.encode())


def msg(direction, binary, body):
    assert len(body) < 256
    return bytes([direction | (2 if binary else 0), len(body)]) + body


MAX3 = 3 << 1
sessions = {
    "37": (SV5, [msg(0, False, b'451-["baz",{"_placeholder":true,"num":0}]'[1:]), msg(0, True, h("01 02 03 04"))]),
    "38": (SV5, [msg(1, False, b'52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'),
                 msg(1, True, h("01 02")), msg(1, True, h("03 04"))]),
    "40": (SV5, [msg(0, False, b'61-15["bar",{"_placeholder":true,"num":0}]'), msg(1, False, b'2["x"]'), msg(0, True, b"\x07")]),
    "45": (SV5, [msg(0, False, b'51-["hello",{"_placeholder":true,"num":1}]'), msg(0, True, b"\x01")]),
    "46": (SV5, [msg(0, False, b'51-["hello"]'), msg(0, False, b'2["hello"]')]),
    "53_msgpack": (SV5, [msg(1, True, h("83 a4 74 79 70 65 02 a3 6e 73 70 a1 2f a4 64 61 74 61 92 a5 68 65 6c 6c 6f a3 79 6f 75")),
                         msg(0, False, b'2["still text"]')]),
    "v4_51": (SV4, [msg(0, False, b'51-/admin,456["d",{"_placeholder":true,"num":0}]'), msg(0, True, h("01 02 03"))]),
}
for name, (v, msgs) in sessions.items():
    write("sio_session", name, bytes([v | MAX3]) + b"".join(msgs))

mp = {
    "53": h("83 a4 74 79 70 65 02 a3 6e 73 70 a1 2f a4 64 61 74 61 92 a5 68 65 6c 6c 6f a3 79 6f 75"),
    # {type:2, nsp:"/", data:["f", bin 01 02, 1.5], id:7}
    "bin_id": h("84 a4 74 79 70 65 02 a3 6e 73 70 a1 2f a4 64 61 74 61 93 a1 66 c4 02 01 02 cb 3f f8 00 00 00 00 00 00 a2 69 64 07"),
    # {type:0, nsp:"/admin", data:{"token":"x"}}
    "connect": h("83 a4 74 79 70 65 00 a3 6e 73 70 a6 2f 61 64 6d 69 6e a4 64 61 74 61 81 a5 74 6f 6b 65 6e a1 78"),
}
for name, data in mp.items():
    write("sio_msgpack", name, data)

# --- heads -------------------------------------------------------------------------------------


def client_hello(sni, alpn):
    ext = b""
    name = sni.encode()
    body = struct.pack(">H", len(name) + 3) + b"\x00" + struct.pack(">H", len(name)) + name
    ext += struct.pack(">HH", 0, len(body)) + body
    lst = b"".join(bytes([len(p)]) + p.encode() for p in alpn)
    body = struct.pack(">H", len(lst)) + lst
    ext += struct.pack(">HH", 16, len(body)) + body
    hello = b"\x03\x03" + b"\x5a" * 32 + b"\x00" + struct.pack(">H", 2) + b"\x13\x01" + b"\x01\x00"
    hello += struct.pack(">H", len(ext)) + ext
    hs = b"\x01" + struct.pack(">I", len(hello))[1:] + hello
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


write("tunnel_hello", "hello", b"\x00" + client_hello("example.test", ["h2", "http/1.1"]))
write("tunnel_hello", "http", b"\x00GET / HTTP/1.1\r\nHost: a\r\n\r\n")
write("tunnel_hello", "ssh", b"\x00SSH-2.0-OpenSSH_9.6\r\n")
write("tunnel_hello", "built", bytes([0x07, 11]) + b"example.com" + bytes([2, 2]) + b"h2" + bytes([8]) + b"http/1.1" + bytes([1, 5, 3]) + b"abc" + bytes([4, 3]))

write("http_head", "ext", b"\x00permessage-deflate; client_max_window_bits=15; server_no_context_takeover")
write("http_head", "ext_quoted", b'\x00x-webkit-deflate-frame, permessage-deflate; server_max_window_bits="10"\npermessage-deflate')
write("http_head", "query", b"\x01/socket.io/?EIO=4&transport=polling&t=OabcDef&sid=S%2D1&token=a+b")
write("http_head", "query_v3", b"\x01http://h:1/p?EIO=3&transport=polling&j=2&b64=1&x")
write("http_head", "gzip", b"\x02" + struct.pack("<H", 4096) + b"\x00" + gzip.compress(b"96:0{}" * 40))
write("http_head", "deflate", b"\x02" + struct.pack("<H", 100) + b"\x01" + zlib.compress(b"a" * 1000))
write("http_head", "roundtrip", b"\x03" + struct.pack("<H", 300) + b"\x00" + b"4hello\x1e2\x1e4world" * 10)

# --- NDJSON capture lines ----------------------------------------------------------------------
base = {"seq": 7, "ts": "2025-11-26T02:11:26.123456Z", "mono_us": 42, "conn": 3}
records = [
    {"type": "conn_open", "client": "127.0.0.1:5000", "listener": "127.0.0.1:8080"},
    {"type": "conn_close", "bytes_c2s": 10, "bytes_s2c": 20, "error": "reset"},
    {"type": "http_request", "exchange": 1, "method": "GET", "url": "http://a/", "version": "HTTP/1.1", "headers": [["Host", "a"]]},
    {"type": "http_response", "exchange": 1, "status": 101, "reason": "Switching Protocols", "version": "HTTP/1.1", "headers": [], "generated": True, "elapsed_us": 5},
    {"type": "http_body", "exchange": 1, "dir": "s2c", "len": 3, "complete": True, "truncated": True, "base64": "AJ//"},
    {"type": "tunnel_open", "host": "h", "port": 443, "content": "tls", "tls": {"sni": "h", "alpn": "h2", "version": "TLSv1_3"}, "decoded": False},
    {"type": "tunnel_close", "bytes_c2s": 1, "bytes_s2c": 2},
    {"type": "ws_open", "exchange": 1, "url": "ws://a/", "protocol": "chat", "extensions": "permessage-deflate", "deflate": {"server_no_context_takeover": False, "client_no_context_takeover": True, "server_max_window_bits": 10}},
    {"type": "ws_message", "dir": "c2s", "opcode": "text", "len": 5, "wire_len": 7, "compressed": True, "frames": 2, "mask": "37fa213d", "truncated": False, "text": "hello"},
    {"type": "ws_message", "dir": "s2c", "opcode": "binary", "len": 3, "wire_len": 3, "frames": 1, "base64": "AJ//"},
    {"type": "ws_control", "dir": "s2c", "kind": "ping", "text": ""},
    {"type": "ws_close", "dir": "c2s", "code": 1000, "reason": "bye"},
    {"type": "ws_end", "bytes_c2s": 1, "bytes_s2c": 2},
    {"type": "anomaly", "layer": "ws", "dir": "c2s", "message": "unmasked client frame"},
    {"type": "dropped", "count": 12},
]
for r in records:
    write("ndjson_event", r["type"] + ("_" + r.get("opcode", "") if "opcode" in r else ""), json.dumps({**base, **r}, ensure_ascii=False).encode())
write("ndjson_event", "offset_ts", json.dumps({**base, "ts": "2025-11-26T03:11:26.5+01:00", "type": "dropped", "count": 1}).encode())

# A whole capture (header, one HTTP exchange, a WebSocket with messages, controls and close,
# end), for the capture reader and, exported by the binary, for the HAR reader.
def rec(seq, conn, ty, **fields):
    return {"seq": seq, "ts": "2025-11-26T02:11:%02d.%06dZ" % (26 + seq // 10, seq * 1000), "mono_us": seq * 1000,
            "conn": conn, "type": ty, **fields}


capture = [
    {"type": "capture_header", "format": "sockscope-capture", "format_version": 1, "tool": "sockscope 0.1.0",
     "started": "2025-11-26T02:11:26.000000Z", "options": {}},
    rec(1, 1, "conn_open", client="127.0.0.1:5000", listener="127.0.0.1:8080"),
    rec(2, 1, "http_request", exchange=1, method="POST", url="http://127.0.0.1:3000/socket.io/?EIO=4&transport=polling",
        version="HTTP/1.1", headers=[["host", "127.0.0.1:3000"], ["content-type", "text/plain;charset=UTF-8"]]),
    rec(3, 1, "http_body", exchange=1, dir="c2s", len=2, complete=True, text="40"),
    rec(4, 1, "http_response", exchange=1, status=200, reason="OK", version="HTTP/1.1",
        headers=[["content-type", "text/html"]], elapsed_us=900),
    rec(5, 1, "http_body", exchange=1, dir="s2c", len=2, complete=True, text="ok"),
    rec(6, 1, "http_request", exchange=2, method="GET", url="http://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket",
        version="HTTP/1.1", headers=[["upgrade", "websocket"], ["connection", "Upgrade"]]),
    rec(7, 1, "http_response", exchange=2, status=101, reason="Switching Protocols", version="HTTP/1.1",
        headers=[["upgrade", "websocket"]], elapsed_us=500),
    rec(8, 1, "ws_open", exchange=2, url="ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket",
        extensions="permessage-deflate", deflate={"server_no_context_takeover": False, "client_no_context_takeover": False}),
    rec(9, 1, "ws_message", dir="c2s", opcode="text", len=12, wire_len=14, compressed=True, frames=1, mask="37fa213d",
        text='42["hi",1.5]'),
    rec(10, 1, "ws_message", dir="s2c", opcode="binary", len=3, wire_len=3, frames=2, base64="AJ//"),
    rec(11, 1, "ws_control", dir="s2c", kind="ping", text="p"),
    rec(12, 1, "ws_control", dir="c2s", kind="pong", mask="01020304", text="p"),
    rec(13, 1, "ws_close", dir="c2s", code=1000, reason="bye"),
    rec(14, 1, "ws_end", bytes_c2s=100, bytes_s2c=200),
    rec(15, 1, "anomaly", layer="ws", dir="s2c", message="frame after close"),
    rec(16, 1, "conn_close", bytes_c2s=300, bytes_s2c=400),
    rec(17, 0, "some_future_record", detail={"x": 1}),
    {"type": "capture_end", "events": 17, "dropped": 0, "anomalies": 1},
]
capture_text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in capture).encode()
write("ndjson_event", "capture", capture_text)
write("ndjson_event", "capture_torn_tail", capture_text[:-30])

write("har_reader", "minimal", b'{"log":{"version":"1.2","entries":[]}}')
chrome = {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "pages": [], "entries": [
    {"startedDateTime": "2025-11-26T02:11:26.123Z", "time": 12.5,
     "request": {"method": "GET", "url": "https://example.test/api?x=1", "httpVersion": "HTTP/1.1",
                 "headers": [{"name": "Host", "value": "example.test"}], "queryString": [{"name": "x", "value": "1"}],
                 "cookies": [], "headersSize": -1, "bodySize": 0},
     "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                  "headers": [{"name": "Content-Type", "value": "application/json"}], "cookies": [],
                  "content": {"size": 7, "mimeType": "application/json", "text": "eyJhIjoxfQ==", "encoding": "base64"},
                  "redirectURL": "", "headersSize": -1, "bodySize": 7},
     "cache": {}, "timings": {"send": 0, "wait": 10, "receive": 2.5}},
    {"startedDateTime": "2025-11-26T02:11:27.000Z", "time": 0, "_resourceType": "websocket",
     "request": {"method": "GET", "url": "wss://example.test/socket.io/?EIO=4&transport=websocket",
                 "httpVersion": "HTTP/1.1", "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
     "response": {"status": 101, "statusText": "Switching Protocols", "httpVersion": "HTTP/1.1", "headers": [],
                  "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
                  "headersSize": -1, "bodySize": 0},
     "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
     "_webSocketMessages": [
         {"type": "send", "time": 1764123087.1, "opcode": 1, "data": "40"},
         {"type": "receive", "time": 1764123087.2, "opcode": 1, "data": "40{\"sid\":\"abc\"}"},
         {"type": "receive", "time": 1764123087.3, "opcode": 2, "data": "AQID"}]}]}}
write("har_reader", "chrome", json.dumps(chrome).encode())

# Our own HAR export of the capture above, when the debug binary is built.
binary = os.path.join(os.path.dirname(ROOT), "..", "target", "debug", "sockscope")
if os.path.exists(binary):
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        cap = os.path.join(d, "cap.ndjson")
        with open(cap, "wb") as f:
            f.write(capture_text)
        out = os.path.join(d, "out.har")
        subprocess.run([binary, "export", cap, "--har", out], check=True, capture_output=True)
        with open(out, "rb") as f:
            write("har_reader", "sockscope_export", f.read())
else:
    print("note: target/debug/sockscope not built; the har_reader seed sockscope_export was not refreshed")

print("seeds written to", ROOT)
