'use strict';
// Node `ws` peer for the wsloop benchmarks (single-threaded by nature):
// /echo echoes every message (same opcode); /chat is one broadcast room where
// every message goes to every member, sender included.
// `node server.js [--port 0]` prints `node-ws listening on 127.0.0.1:PORT`.
const http = require('http');
const { WebSocketServer } = require('ws');

let port = 0;
const argv = process.argv.slice(2);
if (argv.length === 2 && argv[0] === '--port' && /^\d+$/.test(argv[1])) port = Number(argv[1]);
else if (argv.length !== 0) { console.error('usage: node server.js [--port 0]'); process.exit(2); }

const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: 64 << 20 });
const room = new Set();

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  if (path !== '/echo' && path !== '/chat') { socket.destroy(); return; }
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (path === '/echo') {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    } else {
      room.add(ws);
      ws.on('message', (data, isBinary) => {
        for (const c of room) c.send(data, { binary: isBinary });
      });
      ws.on('close', () => room.delete(ws));
    }
    ws.on('error', () => {});
  });
});

server.on('error', (e) => { console.error(`node-ws: ${e.message}`); process.exit(2); });
server.listen(port, '127.0.0.1', () => {
  console.log(`node-ws listening on 127.0.0.1:${server.address().port}`);
});
