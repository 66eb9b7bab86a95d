"""An Autobahn|Python client that authenticates to the embedded router with
ticket or WAMP-CRA (salted or not), calls com.test.add2(2, 3) and prints what happened:

    python3 -u auth_client.py URL REALM SERIALIZER AUTHID METHOD SECRET

It prints "result 5 ROLE" after a successful call, or "refused REASON" when
the router does not let it join, and exits 0 either way; any other end is a
failure (exit 1, or 3 past the deadline).
"""
import asyncio
import os
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}

url, realm, ser, authid, method, secret = sys.argv[1:7]
outcome = {"done": False}


class Client(ApplicationSession):
    def onConnect(self):
        self.join(realm, [method], authid)

    def onChallenge(self, challenge):
        if challenge.method == "ticket":
            return secret
        if challenge.method == "wampcra":
            key = secret
            if "salt" in challenge.extra:
                # A salted secret: derive the key as the guide shows.
                key = auth.derive_key(secret, challenge.extra["salt"],
                                      challenge.extra.get("iterations", 1000),
                                      challenge.extra.get("keylen", 32))
            sig = auth.compute_wcs(key, challenge.extra["challenge"])
            return sig.decode("ascii") if isinstance(sig, bytes) else sig
        raise Exception("unexpected challenge " + challenge.method)

    async def onJoin(self, details):
        res = await self.call("com.test.add2", 2, 3)
        print("result", res, details.authrole, flush=True)
        outcome["done"] = True
        self.leave()

    def onLeave(self, details):
        if not outcome["done"]:
            print("refused", details.reason, flush=True)
            outcome["done"] = True
        self.disconnect()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


def expire():
    print("deadline exceeded", file=sys.stderr, flush=True)
    os._exit(3)


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
loop.call_later(float(os.environ.get("INTEROP_DEADLINE", "30")), expire)
ApplicationRunner(url=url, realm=realm, serializers=[SERIALIZERS[ser]()]).run(Client)
sys.exit(0 if outcome["done"] else 1)
