"""The WSGI server (waitress): threads, bounded bodies, the caller's address as seen."""

from __future__ import annotations

import errno

from waitress.server import create_server

from clearcrawl.portal.security import SERVER_MAX_BODY_BYTES


def make_server(app, host: str, port: int, threads: int = 8):
    """A waitress server (not yet running): `.run()` serves, `.close()` stops,
    `.effective_port` is the port bound (useful with port 0)."""
    return create_server(app, host=host, port=port, threads=threads,
                         max_request_body_size=SERVER_MAX_BODY_BYTES,
                         ident="clearcrawl-portal", clear_untrusted_proxy_headers=True)


def stop(server, timeout_s: float = 10.0) -> None:
    """Finish the requests being served, then close every socket, so `run()` returns."""
    from waitress import wasyncore

    server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout_s)
    # Closed by the serving thread itself (a trigger thunk), not under its select().
    try:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    except OSError as exc:
        # EBADF: the trigger's pipe is already closed, so the serving loop has closed
        # every socket and returned (or is returning) on its own.
        if exc.errno != errno.EBADF:
            raise
