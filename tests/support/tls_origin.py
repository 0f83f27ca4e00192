"""A TLS origin with its own self-signed certificate, reached through a regular-mode proxy by
`CONNECT`: whether the proxy tunnels it untouched (the client then verifies the origin's own
certificate) or intercepts it (the handshake fails against the origin's certificate)."""

import socket
import ssl
import threading
from pathlib import Path

from support.harness import self_signed


def through_tunnel(proxy_port: int, tmp: Path, sni: str, request: bytes = b"GET / HTTP/1.1\r\n") -> bytes:
    """What the client reads after sending `request` (+ Host header) over TLS with `sni`,
    verified against the origin's own certificate; raises ssl.SSLError when intercepted."""
    pem = self_signed(tmp / "origin.pem", sni)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        try:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1024)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\norigin")
        except OSError:  # ssl.SSLError too: an intercepting proxy never came, or broke the handshake
            return

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as s:
            s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            assert b" 200 " in s.recv(1024)
            client_ctx = ssl.create_default_context(cafile=str(pem))
            client_ctx.check_hostname = False
            with client_ctx.wrap_socket(s, server_hostname=sni) as tls:
                tls.sendall(request + f"Host: {sni}\r\n\r\n".encode())
                return tls.recv(1024)
    finally:
        try:  # wakes a still-waiting accept() at once
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        t.join(5)
