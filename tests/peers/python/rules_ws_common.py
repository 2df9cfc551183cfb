"""Shared by rules_ws_server.py and rules_ws_client.py: the numbered messages each side sends
and the digest both sides compute over a sequence of messages."""

import hashlib
import random


def stream(role, count):
    """`count` messages for `role` ("client" or "server"): compressible and non-ASCII text,
    incompressible and compressible binary, 0 to 4 KiB; every 50th text contains REPLACE-ME but
    not at its start (a rule anchored with ^ must leave it alone)."""
    rnd = random.Random(f"sockscope-rules-{role}")
    out = []
    for i in range(count):
        k = i % 5
        if i % 50 == 7:
            out.append(f"{role} {i}: not REPLACE-ME at the start")
        elif k == 0:
            out.append((f"{role} message {i} " * rnd.randint(0, 200))[: rnd.randint(0, 4096)])
        elif k == 1:
            out.append(rnd.randbytes(rnd.randint(0, 4096)))
        elif k == 2:
            out.append(f"{i} h\u00e9llo \u2713 \u65e5\u672c\u8a9e \U0001f389 " * rnd.randint(1, 40))
        elif k == 3:
            out.append(bytes(rnd.randint(0, 4096)))
        else:
            out.append(str(rnd.random()) * rnd.randint(1, 30))
    return out


class Digest:
    """SHA-256 over a sequence of messages: for each, its kind (t/b), its length (8 bytes, big
    endian), its bytes."""

    def __init__(self):
        self.h = hashlib.sha256()
        self.count = 0

    def add(self, msg):
        data = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
        self.h.update(b"t" if isinstance(msg, str) else b"b")
        self.h.update(len(data).to_bytes(8, "big"))
        self.h.update(data)
        self.count += 1

    def hex(self):
        return self.h.hexdigest()


def digest_of(msgs):
    d = Digest()
    for m in msgs:
        d.add(m)
    return d.hex()
