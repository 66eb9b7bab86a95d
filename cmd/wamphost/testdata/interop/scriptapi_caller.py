"""Autobahn|Python against the scriptapi components: progressive results,
cancellation and call timeouts, in the guide's style. Each outcome is one
line on stdout for the Go test to check."""
import asyncio

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions

import interop


class MyComponent(ApplicationSession):
    async def onJoin(self, details):
        print("session ready")
        try:
            progress = []
            res = await self.call(u'com.sa.progressive', 3,
                                  options=CallOptions(on_progress=lambda i: progress.append(i)))
            print("progress: {} final: {} wanted: {}".format(progress, res.results, res.kwresults["wanted"]))

            res = await self.call(u'com.sa.progressive', 3)
            print("no progress final: {} wanted: {}".format(res.results, res.kwresults["wanted"]))

            try:
                await self.call(u'com.sa.wait', u'py-timeout', 60000, options=CallOptions(timeout=200))
                print("timeout: no error")
            except ApplicationError as e:
                print("timeout error: {}".format(e.error))

            # The Go test publishes cancel_now once the handler has started.
            call = asyncio.ensure_future(self.call(u'com.sa.wait', u'py-cancel', 60000))
            await self.subscribe(lambda: call.cancel(), u'com.scriptapi.cancel_now')
            print("waiting for cancel")
            try:
                await call
                print("cancel: call finished")
            except asyncio.CancelledError:
                print("cancel: call canceled")
            except ApplicationError as e:
                print("cancel error: {}".format(e.error))
        except Exception as e:
            print("unexpected: {!r}".format(e))
        self.leave()

    def onLeave(self, details):
        print("session left")
        self.disconnect()

    def onDisconnect(self):
        print("transport disconnected")
        asyncio.get_event_loop().stop()


if __name__ == '__main__':
    interop.run(MyComponent)
