"""The guide's asyncio caller ("Calling Procedures"), unchanged but for the
lifecycle hooks that end the script once the call is done."""
import asyncio

from autobahn.asyncio.wamp import ApplicationSession

import interop


class MyComponent(ApplicationSession):
    async def onJoin(self, details):
        print("session ready")
        try:
            res = await self.call(u'com.myapp.add2', 2, 3)
            print("call result: {}".format(res))
        except Exception as e:
            print("call error: {0}".format(e))
        # Added for the test: one call, then leave.
        self.leave()

    def onLeave(self, details):
        print("session left")
        self.disconnect()

    def onDisconnect(self):
        print("transport disconnected")
        asyncio.get_event_loop().stop()


if __name__ == '__main__':
    interop.run(MyComponent)
