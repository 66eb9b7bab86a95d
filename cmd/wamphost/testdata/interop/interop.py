"""Plumbing shared by the Autobahn|Python interop scripts.

The components themselves are the guide's; this module only supplies what
a test run needs around them: the router URL, realm and serializer come
from the command line (the test picks a free port), and a deadline makes a
stuck script exit instead of hanging the test.

    python3 -u SCRIPT.py URL REALM SERIALIZER
"""
import asyncio
import os
import sys

from autobahn.asyncio.wamp import ApplicationRunner
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

SERIALIZERS = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
}

DEADLINE = float(os.environ.get("INTEROP_DEADLINE", "30"))


def run(component):
    """Runs component until its session ends, or fails after DEADLINE seconds."""
    if len(sys.argv) != 4 or sys.argv[3] not in SERIALIZERS:
        sys.exit("usage: %s URL REALM {%s}" % (sys.argv[0], "|".join(SERIALIZERS)))
    url, realm, ser = sys.argv[1:]

    def expire():
        print("deadline of %gs exceeded" % DEADLINE, file=sys.stderr, flush=True)
        os._exit(3)

    # ApplicationRunner runs whatever loop get_event_loop returns.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.call_later(DEADLINE, expire)
    runner = ApplicationRunner(url=url, realm=realm, serializers=[SERIALIZERS[ser]()])
    runner.run(component)
