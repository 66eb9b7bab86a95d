"""The guide's asyncio subscriber ("Subscribing to Topics"), unchanged but
for the lines that leave after three events so the script ends."""
import asyncio

from autobahn.asyncio.wamp import ApplicationSession

import interop

WANT = 3


class MyComponent(ApplicationSession):
    async def onJoin(self, details):
        print("session ready")
        received = []  # added for the test

        def oncounter(count):
            print("event received: {0}", count)
            # Added for the test: leave after WANT events.
            received.append(count)
            if len(received) == WANT:
                self.leave()
        try:
            await self.subscribe(oncounter, u'com.myapp.oncounter')
            print("subscribed to topic")
        except Exception as e:
            print("could not subscribe to topic: {0}".format(e))
            self.leave()

    def onLeave(self, details):
        print("session left")
        self.disconnect()

    def onDisconnect(self):
        print("transport disconnected")
        asyncio.get_event_loop().stop()


if __name__ == '__main__':
    interop.run(MyComponent)
