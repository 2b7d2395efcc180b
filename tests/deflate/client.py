"""python-websockets against wsloop with permessage-deflate (tests/integration/deflate.rs).

python-websockets offers permessage-deflate by default and compresses every
message it sends; it inflates what the server compresses. Usage:
    python client.py ws://127.0.0.1:PORT
Prints one line per check and "ok" at the end; any mismatch raises.
"""

import asyncio
import sys

from websockets.asyncio.client import connect

SIZES = [0, 1, 1023, 1024, 64 * 1024, 1 << 20]
TIMEOUT = 30


async def echo(base):
    async with connect(base + "/echo", max_size=None, open_timeout=TIMEOUT) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        print("extension:", ext)
        assert ext and ext.startswith("permessage-deflate"), ext
        for n in SIZES:
            text = ("wsloop é " * (n // 10 + 1))[:n]
            data = bytes((i * 7) % 251 for i in range(n))
            for msg in (text, data):
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), TIMEOUT)
                assert got == msg, ("whole", n, type(msg))
                # Fragmented: an iterable of fragments is one message.
                half = len(msg) // 2
                await ws.send([msg[:half], msg[half:]] if n > 1 else [msg])
                got = await asyncio.wait_for(ws.recv(), TIMEOUT)
                assert got == msg, ("fragmented", n, type(msg))
            print("echo", n, "ok")


async def room(base):
    url = base + "/chat/py-deflate"
    async with connect(url, open_timeout=TIMEOUT) as a, connect(url, open_timeout=TIMEOUT) as b:
        line = "a broadcast of 2 KiB " * 100
        await a.send(line)
        for ws in (a, b):
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert got == line, got[:40]
        print("room ok")


async def main(base):
    await echo(base)
    await room(base)
    print("ok")


asyncio.run(main(sys.argv[1]))
