// autobahn-js against wamphost: calls com.myapp.add2 and takes three
// com.myapp.oncounter events, printing what it got, then closes.
//
//   NODE_PATH=.../node_modules node js_client.js URL REALM SERIALIZER
//
// autobahn-js 26 uses a global WebSocket, which Node 20 lacks: ws stands in.
globalThis.WebSocket = require('ws');
const autobahn = require('autobahn');

const [url, realm, ser] = process.argv.slice(2);
const serializers = {
  json: autobahn.serializer.JSONSerializer,
  msgpack: autobahn.serializer.MsgpackSerializer,
  cbor: autobahn.serializer.CBORSerializer,
};
if (!url || !realm || !serializers[ser]) {
  console.error(`usage: node js_client.js URL REALM {${Object.keys(serializers).join('|')}}`);
  process.exit(2);
}

const deadlineSec = Number(process.env.INTEROP_DEADLINE || 30);
const deadline = setTimeout(() => {
  console.error(`deadline of ${deadlineSec}s exceeded`);
  process.exit(3);
}, deadlineSec * 1000);

const WANT = 3;
let done = false;

const connection = new autobahn.Connection({
  url,
  realm,
  serializers: [new serializers[ser]()],
  max_retries: 0,
  retry_if_unreachable: false,
});

connection.onopen = async (session, details) => {
  console.log(`session ready: ${session.id} ${connection.transport.info.protocol}`);
  try {
    const res = await session.call('com.myapp.add2', [2, 3]);
    console.log(`call result: ${res}`);
    await new Promise((resolve, reject) => {
      let n = 0;
      session.subscribe('com.myapp.oncounter', (args) => {
        console.log(`event received: ${args[0]}`);
        if (++n === WANT) resolve();
      }).then(() => console.log('subscribed to topic'), reject);
    });
    done = true;
  } catch (e) {
    console.log(`error: ${e.error || e} ${JSON.stringify(e.args || [])}`);
  }
  connection.close();
};

connection.onclose = (reason, details) => {
  console.log(`connection closed: ${reason}`);
  clearTimeout(deadline);
  process.exit(done ? 0 : 1);
};

connection.open();
