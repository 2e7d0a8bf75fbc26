"""A local HTTP proxy that serves the robots.txt of any number of virtual hosts.

For the tests and the bench of `clearcrawl robots fetch`: the fetcher is pointed at it
with HTTP_PROXY and sends absolute-form requests (`GET http://allow-17.test/robots.txt`);
the host name's first label picks the case (`allow`, `status404`, `redirect3`, ...),
so a run can ask for as many distinct origins as it likes. Requests in origin form
(`GET /robots.txt`, from a client that bypassed the proxy through NO_PROXY) are served
too and logged as `direct`. http only: a CONNECT (an https origin through HTTPS_PROXY) is
refused with 403, as a proxy that allows no tunnel there would, and logged as `connect`.

Every response served is logged as `form host:port path status` (one line, flushed), and
a host with two requests open at once is logged as `OVERLAP host`, and each new
User-Agent as `AGENT value`, so that tests can check the fetcher's politeness from the
server's side.

    python -m clearcrawl.robots_store.vhosts --port-file F --log F [--serve-limit N]
        [--delay-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import signal
import sys

ROBOTS_BODIES: dict[str, bytes] = {
    "allow": b"User-agent: *\nAllow: /\n",
    "agent": b"User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
    "star": b"User-agent: *\nDisallow: /\n",
    "paths": b"User-agent: *\nDisallow: /private/\nAllow: /private/open$\n"
             b"\nUser-agent: CCBot\nDisallow: /news/\n",
    "latin1": "User-agent: *\nDisallow: /café/\n# © Société Générale\n".encode("latin-1"),
    "html": b"<!DOCTYPE html>\n<html><head><title>Not found</title></head>"
            b"<body><h1>Welcome</h1><p>User-agent: * is not a rule here</p></body></html>\n",
    "gzip": b"User-agent: CCBot\nDisallow: /\n",
    "target": b"User-agent: ClaudeBot\nDisallow: /\n",
    "direct": b"User-agent: *\nDisallow: /direct-only/\n",
}
BIG_BODY = b"User-agent: *\n" + b"".join(b"Disallow: /section-%06d/\n" % i
                                         for i in range(700 * 1024 // 26 + 1))
assert len(BIG_BODY) >= 700 * 1024
HUB_HOST = "hub.test"


def case_of(host: str) -> tuple[str, str]:
    """(case, number) of a virtual host `case-number.test`."""
    label = host.split(".", 1)[0]
    case, _, number = label.rpartition("-")
    return (case, number) if case else (label, "")


def response_for(form: str, host: str, path: str, seen: int) -> tuple[int, list[tuple[str, str]],
                                                                       bytes] | None:
    """(status, headers, body) for a request, or None: never answer (a timeout).
    `seen` counts earlier requests for the same host and path."""
    if form == "direct":
        return 200, [("Content-Type", "text/plain")], ROBOTS_BODIES["direct"]
    case, number = case_of(host)
    text = [("Content-Type", "text/plain; charset=utf-8")]
    if host == HUB_HOST or case == "target":
        return 200, text, ROBOTS_BODIES["target"]
    if case in ("allow", "agent", "star", "paths"):
        return 200, text, ROBOTS_BODIES[case]
    if case == "latin1":
        return 200, [("Content-Type", "text/plain; charset=iso-8859-1")], ROBOTS_BODIES[case]
    if case == "html":
        return 200, [("Content-Type", "text/html")], ROBOTS_BODIES[case]
    if case == "gzip":
        return 200, text + [("Content-Encoding", "gzip")], gzip.compress(ROBOTS_BODIES[case],
                                                                           mtime=0)
    if case == "big":
        return 200, text, BIG_BODY
    if case.startswith("status"):
        return int(case[6:]), text, b"status\n"
    if case == "flaky":  # 503 on the first request, then the file
        return (503, text, b"busy\n") if seen == 0 else (200, text, ROBOTS_BODIES["star"])
    if case == "relent":  # disallows everything at first, allows everything afterwards
        return (200, text, ROBOTS_BODIES["star"]) if seen == 0 else (200, text,
                                                                     ROBOTS_BODIES["allow"])
    if case == "refused":  # what a proxy answers when the origin refuses the connection
        return 502, text, b"proxy: connection refused by upstream\n"
    if case == "slow":
        return None
    if case.startswith("redirect"):  # /robots.txt -> /hop1 -> ... -> /hopK (the file)
        hops = int(case[8:])
        step = 0 if path == "/robots.txt" else int(path.removeprefix("/hop"))
        if step < hops:
            return 301, [("Location", f"/hop{step + 1}")], b""
        return 200, text, ROBOTS_BODIES["star"]
    if case == "cross":  # another host, whose rules apply to this origin
        return 302, [("Location", f"http://target-{number}.test/robots.txt")], b""
    if case == "tohub":  # many origins, one redirect target: one connection at a time
        return 301, [("Location", f"http://{HUB_HOST}/robots.txt")], b""
    return 404, text, b"no such case\n"


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 410: "Gone",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class VirtualHosts:
    def __init__(self, log, serve_limit: int | None, delay_s: float):
        self.log = log
        self.serve_limit = serve_limit
        # A request counts as open from its headers to its answer: a delay makes two
        # requests for one host at once visible (OVERLAP) instead of back to back.
        self.delay_s = delay_s
        self.served = 0
        self.open: dict[str, int] = {}
        self.seen: dict[tuple[str, str], int] = {}
        self.agents: set[str] = set()


class _Connection(asyncio.Protocol):
    def __init__(self, state: VirtualHosts):
        self.state = state
        self.buffer = b""
        self.host = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.host is not None:
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        method, target = head[0].split(" ")[:2]
        if method == "CONNECT":  # an https origin: this proxy opens no tunnels
            self.host = ""
            self.transport.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            self.state.log.write(f"connect {target} - 403\n")
            self.state.log.flush()
            self.transport.close()
            return
        if target.startswith("http://"):
            form = "proxy"
            authority, _, rest = target[7:].partition("/")
            path = "/" + rest
        else:
            form, path = "direct", target
            authority = next((h.split(":", 1)[1].strip() for h in head[1:]
                              if h.lower().startswith("host:")), "")
        agent = next((h.split(":", 1)[1].strip() for h in head[1:]
                      if h.lower().startswith("user-agent:")), "")
        if agent not in self.state.agents:
            self.state.agents.add(agent)
            self.state.log.write(f"AGENT {agent}\n")
        hostname, _, port = authority.partition(":")
        self.host = hostname.lower()
        state = self.state
        state.open[self.host] = state.open.get(self.host, 0) + 1
        if state.open[self.host] > 1:
            state.log.write(f"OVERLAP {self.host}\n")
            state.log.flush()
        if state.serve_limit is not None and state.served >= state.serve_limit:
            return  # hold the request: the client is about to be killed
        key = (authority, path)
        seen = state.seen.get(key, 0)
        state.seen[key] = seen + 1
        answer = response_for(form, self.host, path, seen)
        if answer is None:
            return
        line = f"{form} {hostname}:{port or '80'} {path}"
        if state.delay_s:
            asyncio.get_running_loop().call_later(state.delay_s, self._respond, line, answer)
        else:
            self._respond(line, answer)

    def _respond(self, line: str, answer: tuple[int, list[tuple[str, str]], bytes]) -> None:
        if not self.host:
            return  # the client went away while the answer was delayed
        status, headers, body = answer
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                 f"Content-Length: {len(body)}", "Connection: close",
                 *(f"{k}: {v}" for k, v in headers)]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.state.served += 1
        self.state.log.write(f"{line} {status}\n")
        self.state.log.flush()
        self._done()
        self.transport.close()

    def _done(self) -> None:
        if self.host is not None and self.host in self.state.open:
            self.state.open[self.host] -= 1
            if not self.state.open[self.host]:
                del self.state.open[self.host]
        self.host = ""  # answered: later data is ignored, the count is not taken again

    def connection_lost(self, exc) -> None:
        if self.host:
            self._done()


async def serve(port_file: str, log_path: str, serve_limit: int | None,
                delay_s: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    with open(log_path, "a", encoding="utf-8") as log:
        state = VirtualHosts(log, serve_limit, delay_s)
        server = await loop.create_server(lambda: _Connection(state), "127.0.0.1", 0,
                                          backlog=4096)
        port = server.sockets[0].getsockname()[1]
        tmp = port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(str(port))
        os.replace(tmp, port_file)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with server:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clearcrawl.robots_store.vhosts")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--serve-limit", type=int,
                        help="after this many responses, hold every request unanswered")
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="answer every request this much later (default 0)")
    args = parser.parse_args(argv)
    from clearcrawl.robots_store.fetch import run

    run(serve(args.port_file, args.log, args.serve_limit, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
