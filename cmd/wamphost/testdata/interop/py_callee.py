"""A Python callee for wamphost components to call: registers
com.interop.py.mul in the guide's style and serves it until an event on
com.interop.py.stop tells it to leave."""
import asyncio

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError

import interop


class MyComponent(ApplicationSession):
    async def onJoin(self, details):
        print("session ready")

        def mul(x, y):
            print("mul called: {} {}".format(x, y))
            if x < 0 or y < 0:
                raise ApplicationError(u'com.interop.error.negative', 'negative factor', x, y)
            return x * y

        def stop():
            self.leave()
        try:
            await self.subscribe(stop, u'com.interop.py.stop')
            await self.register(mul, u'com.interop.py.mul')
            print("procedure registered")
        except Exception as e:
            print("could not register procedure: {0}".format(e))
            self.leave()

    def onLeave(self, details):
        print("session left")
        self.disconnect()

    def onDisconnect(self):
        print("transport disconnected")
        asyncio.get_event_loop().stop()


if __name__ == '__main__':
    interop.run(MyComponent)
