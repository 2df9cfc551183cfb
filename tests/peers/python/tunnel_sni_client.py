"""HTTPS client for sockscope's SNI tests (Python's own ssl, raw sockets).

Usage: tunnel_sni_client.py --to HOST:PORT [--tunnel AUTHORITY] --name NAME --cafile FILE
                            --path PATH --host HOST [--requests N --pause SECONDS]

Connects to --to; with --tunnel it first sends `CONNECT AUTHORITY` (a proxy) and needs a 200.
Then it speaks TLS with server_hostname NAME (Python sends no SNI when NAME is an IP address),
verifying the certificate against --cafile, sends `GET PATH` with `Host: HOST` and reads the
response to its end. With --requests N it sends N such requests one after the other on that one
connection (pausing between them; each response is read by its Content-Length, the last request
says `Connection: close`). Prints one JSON line: the CONNECT answer, the status line and body of
the last response, all bodies, and the DNS and IP names of the certificate it was shown; or
{"error": ...} when something failed.
"""

import argparse
import json
import socket
import ssl
import time


def read_head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", required=True)
    ap.add_argument("--tunnel")
    ap.add_argument("--name", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--requests", type=int, default=1)
    ap.add_argument("--pause", type=float, default=0.0)
    args = ap.parse_args()
    host, port = args.to.rsplit(":", 1)
    out = {}
    try:
        sock = socket.create_connection((host, int(port)), timeout=20)
        if args.tunnel:
            sock.sendall(f"CONNECT {args.tunnel} HTTP/1.1\r\nHost: {args.tunnel}\r\n\r\n".encode())
            head, _ = read_head(sock)
            out["connect"] = head.split("\r\n")[0]
            if " 200 " not in out["connect"] + " ":
                print(json.dumps(out), flush=True)
                return
        ctx = ssl.create_default_context(cafile=args.cafile)
        tls = ctx.wrap_socket(sock, server_hostname=args.name)
        cert = tls.getpeercert()
        out["cert_names"] = sorted(v for k, v in cert.get("subjectAltName", ()) if k in ("DNS", "IP Address"))
        out["bodies"] = []
        buf = b""
        for i in range(args.requests):
            last = i == args.requests - 1
            if i > 0:
                time.sleep(args.pause)
            conn = "Connection: close\r\n" if last else ""
            tls.sendall(f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\n{conn}\r\n".encode())
            while b"\r\n\r\n" not in buf:
                chunk = tls.recv(65536)
                if not chunk:
                    raise OSError(f"connection closed before response {i + 1}: {buf!r}")
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")), 0
            )
            while len(buf) < length:
                chunk = tls.recv(65536)
                if not chunk:
                    raise OSError(f"connection closed inside response {i + 1}")
                buf += chunk
            body, buf = buf[:length], buf[length:]
            out["status"] = lines[0]
            out["body"] = body.decode("utf-8", "replace")
            out["bodies"].append(out["body"])
    except (OSError, ssl.SSLError) as e:
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
