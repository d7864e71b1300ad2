#!/usr/bin/env python3
"""A TCP forwarder that delays every byte by a fixed time each way: a network's round trip for
test hosts on one machine (the kernel here has no netem).

    python3 delay_proxy.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

Each direction forwards in order, each chunk ``DELAY_MS`` after it arrived (a round trip
through the proxy takes twice that). Runs until killed; detaches when given --daemon.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue = asyncio.Queue()

    async def send() -> None:
        while True:
            due, chunk = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                writer.close()
                return
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            chunk = await reader.read(65536)
            await queue.put((time.monotonic() + delay, chunk))
            if not chunk:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
        writer.close()


async def main(listen: str, port: int, target: str, target_port: int, delay: float) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(target, target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer, delay), pipe(up_reader, writer, delay))

    server = await asyncio.start_server(serve, listen, port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--daemon"]
    if "--daemon" in sys.argv and os.fork():
        sys.exit(0)
    if "--daemon" in sys.argv:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    asyncio.run(main(args[0], int(args[1]), args[2], int(args[3]), float(args[4]) / 1000))
