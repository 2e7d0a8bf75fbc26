"""The command Beam runs for one local worker (see warm_workers.py).

Run as `python -I -S warm_worker_client.py SOCKET`: standard library only, no site
packages, so it starts in milliseconds. It hands the template at SOCKET this
process's environment (Beam's control and logging addresses, pipeline options,
worker id), waits, and exits with the forked worker's status. If no template
answers within a few seconds, it becomes Beam's own worker command instead.
"""

import json
import os
import socket
import struct
import sys
import time

CONNECT_WAIT_S = 5.0
# warm_workers._HEADER and _STATUS, spelt out: this script imports no clearcrawl.
_HEADER, _STATUS = ">I", ">i"


def _connect(path: str):
    deadline = time.monotonic() + CONNECT_WAIT_S
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
            return conn
        except OSError:
            conn.close()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)  # the template is starting and has not bound yet


def main(path: str) -> int:
    conn = _connect(path)
    if conn is None:
        os.execv(sys.executable, [sys.executable, "-m",
                                  "apache_beam.runners.worker.sdk_worker_main"])
    request = json.dumps(dict(os.environ)).encode()
    conn.sendall(struct.pack(_HEADER, len(request)) + request)
    status = b""
    while len(status) < 4:
        chunk = conn.recv(4 - len(status))
        if not chunk:
            print("clearcrawl: a forked Beam worker ended without a status", file=sys.stderr)
            return 1
        status += chunk
    return struct.unpack(_STATUS, status)[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
