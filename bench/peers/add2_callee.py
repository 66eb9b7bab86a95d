"""The seed guide's add2 callee (Autobahn|Python, asyncio), as workload 1(d)
runs it against nexusd.

    /usr/bin/python3 add2_callee.py ws://127.0.0.1:PORT/ realm1 json|msgpack

Prints "ready" once the procedure is registered.
"""
import sys

from autobahn.asyncio.wamp import ApplicationSession, ApplicationRunner
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer


class MyComponent(ApplicationSession):
    async def onJoin(self, details):
        def add2(x, y):
            return x + y

        await self.register(add2, "com.myapp.add2")
        print("ready", flush=True)

    def onDisconnect(self):
        asyncio_loop = __import__("asyncio").get_event_loop()
        asyncio_loop.stop()


if __name__ == "__main__":
    url, realm, ser = sys.argv[1], sys.argv[2], sys.argv[3]
    serializer = {"json": JsonSerializer, "msgpack": MsgPackSerializer}[ser]()
    ApplicationRunner(url, realm, serializers=[serializer]).run(MyComponent)
