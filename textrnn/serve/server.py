"""Binding the server's socket (before the model loads, so that a port in use is one clear error at once) and the
uvicorn server that runs create_app's app with the guarded protocol."""

import errno
import socket

import uvicorn
from fastapi import FastAPI

from ..errors import ConfigError
from .protocol import GuardedHttpToolsProtocol
from .settings import ServeSettings


BIND_ERRORS = {  # errno: what it means for serve's flags
    errno.EADDRINUSE: "--port {port}: {address} is already in use (another server listens there); pick another "
                      "port, or --port 0 for a free one",
    errno.EACCES: "--port {port}: not permitted to listen on {address} (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "--host {host}: {address} is not an address of this machine",
}


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, made here rather than by uvicorn so that a port in use or a wrong host is
    one clear error before the model loads, and the address announced is the one bound (a real port for 0)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise ConfigError(f"--host {host}: not an address, and not a name this machine can resolve ({error})") \
            from None
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
        listener.bind(address)
        listener.listen(2048)  # uvicorn's default backlog
    except OSError as error:
        listener.close()
        shown = f"[{address[0]}]:{address[1]}" if family == socket.AF_INET6 else f"{address[0]}:{address[1]}"
        message = BIND_ERRORS.get(error.errno, "--host {host} --port {port}: cannot listen on {address} ({error})")
        raise ConfigError(message.format(host=host, port=port, address=shown, error=error.strerror)) from None
    return listener


def listener_url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if listener.family == socket.AF_INET6 else f"http://{host}:{port}"


def make_server(app: FastAPI, settings: ServeSettings, access_log: bool = True) -> "uvicorn.Server":
    """A uvicorn server for create_app's app, with the guarded protocol; run it with .run(sockets=[listener])."""
    protocol = type("ServeProtocol", (GuardedHttpToolsProtocol,), {"settings": settings, "load": app.state.load})
    config = uvicorn.Config(app, http=protocol, ws="none",  # no WebSocket routes, so no protocol switching either
                            access_log=access_log, timeout_keep_alive=settings.keep_alive_s,
                            timeout_graceful_shutdown=30)
    return uvicorn.Server(config)
