"""An Autobahn|Python client that authenticates with WAMP-cryptosign, as
Autobahn's own cryptosign examples do, and reports what the router made of
it:

    python3 -u cryptosign_client.py URL REALM SERIALIZER AUTHID SEED [PUBKEY]

SEED is the hex of the client's 32-byte Ed25519 private key seed. The client
names its public key in authextra.pubkey; PUBKEY, when given, is named
instead (a client claiming a key it cannot sign for).

After joining it prints "joined AUTHID AUTHROLE" from its WELCOME, then calls
com.test.add2(2, 3) and com.backend.who (whose callee asked the router to
disclose callers, so it answers with the router's idea of who called) and
prints "result 5" and "who AUTHID AUTHROLE". When the router refuses it, it prints
"refused REASON". It exits 0 either way; any other end is a failure (exit 1,
or 3 past INTEROP_DEADLINE seconds).
"""
import asyncio
import binascii
import os
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.cryptosign import CryptosignKey
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}

url, realm, ser, authid, seed = sys.argv[1:6]
key = CryptosignKey.from_bytes(binascii.a2b_hex(seed))
pubkey = sys.argv[6] if len(sys.argv) > 6 else key.public_key()
outcome = {"done": False}


class Client(ApplicationSession):
    def onConnect(self):
        self.join(realm, authmethods=["cryptosign"], authid=authid, authextra={"pubkey": pubkey})

    def onChallenge(self, challenge):
        if challenge.method != "cryptosign":
            raise Exception("unexpected challenge " + challenge.method)
        return key.sign_challenge(challenge)

    async def onJoin(self, details):
        print("joined", details.authid, details.authrole, flush=True)
        try:
            res = await self.call("com.test.add2", 2, 3)
            print("result", res, flush=True)
            who = await self.call("com.backend.who")
            print("who", who, flush=True)
        except Exception as e:
            # A failed call is the test's failure, reported now rather than
            # at the deadline.
            print("call failed:", repr(e), file=sys.stderr, flush=True)
            os._exit(1)
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
