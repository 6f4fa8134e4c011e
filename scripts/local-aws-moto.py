"""moto's server, one request at a time. Started by scripts/local-aws; not meant to be run by hand.

moto's own `moto_server` serves each request on its own thread, and moto's DynamoDB backend does
not lock around a conditional write: two writers can both pass `attribute_not_exists(pk)` or the
same version check. Floe's exactly-once commit depends on exactly that check, so this server
handles requests strictly one after another (werkzeug's BaseWSGIServer, threaded=False). A
non-threaded werkzeug server speaks HTTP/1.0 and closes each connection after its response, so
one client's idle keep-alive connection cannot hold up the others.

    python local-aws-moto.py PORT_FILE [HOST]

Binds HOST (default 127.0.0.1) on a free port chosen by the kernel, writes the port to PORT_FILE
(atomically, once it listens) and serves until SIGTERM or SIGINT.
"""

import os
import signal
import sys


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: local-aws-moto.py PORT_FILE [HOST]\n")
        sys.exit(2)
    port_file = sys.argv[1]
    host = sys.argv[2] if len(sys.argv) == 3 else "127.0.0.1"

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class Handler(MotoRequestHandler):
        # A client that opens a connection and stalls must not stop the server for everyone else.
        timeout = 60

    patch_kafka_creation_time()
    app = DomainDispatcherApplication(create_backend_app)
    # Port 0: the kernel picks a free port, with no window in which another process can take it.
    server = make_server(host, 0, app, threaded=False, request_handler=Handler)
    port = server.server_port
    # Some moto backends build URLs from MOTO_PORT; it must be the port actually served.
    os.environ["MOTO_PORT"] = str(port)

    tmp = f"{port_file}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, port_file)

    def stop(signum: int, frame: object) -> None:
        # Everything is in memory and nothing needs flushing: skip the slow interpreter shutdown.
        server.server_close()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write(f"local-aws-moto: serving one request at a time on http://{host}:{port}\n")
    sys.stderr.flush()
    server.serve_forever()


def patch_kafka_creation_time() -> None:
    """moto's MSK clusters carry creationTime without a UTC offset, which is not RFC 3339: the AWS
    SDK for JavaScript refuses DescribeClusterV2's answer. AWS sends UTC with an offset; so does this."""
    from datetime import datetime, timezone

    from moto.kafka import models

    original = models.FakeKafkaCluster.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        self.creation_time = datetime.now(timezone.utc).isoformat()

    models.FakeKafkaCluster.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
