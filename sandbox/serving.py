"""Serve the sandbox app with cheroot: HTTP/1.1 keep-alive, a thread pool, optional TLS.

werkzeug's development server answers every request with `Connection: close`, so each
call of a benchmark paid a new TCP (and TLS) connection. cheroot keeps connections open
and parks idle ones in a selector, so a thread is busy only while a request runs (a
latency fault sleeping in one request does not hold up the others). One process only:
the world lives in memory (sandbox/state.py).
"""

from __future__ import annotations

import os

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from flask import Flask

DEFAULT_THREADS = 48
# Longer than any client's pool keeps an idle connection in a test or bench: a keep-alive
# connection the server closes under a client's pool would surface as a reset.
IDLE_TIMEOUT = 120
SERVER_NAME = "tesla-sandbox"


def make_server(
    app: Flask,
    host: str,
    port: int,
    *,
    threads: int = DEFAULT_THREADS,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
) -> wsgi.Server:
    """A bound (not yet serving) server; `bound_port(server)` names the real port.

    Call `server.serve()` (blocking) afterwards and `server.stop()` to end it.
    """
    if threads < 1:
        raise ValueError("threads must be at least 1")
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("TLS needs both a certificate and a key")
    server = wsgi.Server(
        (host, port),
        app,
        numthreads=threads,
        max=threads,
        server_name=SERVER_NAME,  # cheroot's default advertises its own version
        request_queue_size=128,  # listen backlog: benches open many connections at once
        timeout=IDLE_TIMEOUT,
        shutdown_timeout=5,
    )
    # cheroot's default (10) answers `Connection: close` once 10 connections are open.
    server.keep_alive_conn_limit = None
    if tls_cert is not None:
        server.ssl_adapter = BuiltinSSLAdapter(str(tls_cert), str(tls_key))
    server.prepare()  # binds now, so port 0 is resolved before the URL is built
    return server


def bound_port(server: wsgi.Server) -> int:
    return server.bind_addr[1]
