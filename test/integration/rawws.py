"""A WebSocket client of raw bytes (asyncio streams), for the hostile-client
tests: it sends whatever frames it is told to, valid or not, and reads what
the server sends back, close code included."""
import asyncio
import base64
import os
import struct


def handshake(path="/ws/todo", host="127.0.0.1"):
    key = base64.b64encode(os.urandom(16)).decode()
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, key)).encode()


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """one frame; `length` overrides the length field (a lie)"""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    head = bytes([b0])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


class RawWS:
    def __init__(self, reader, writer, status):
        self.reader, self.writer, self.status = reader, writer, status

    @classmethod
    async def open(cls, port, path="/ws/todo", timeout=10):
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(handshake(path))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(head.split(b" ", 2)[1])
        return cls(reader, writer, status)

    async def send(self, data):
        self.writer.write(data)
        await self.writer.drain()

    async def read_frame(self, timeout=5):
        """(opcode, payload), None when the connection ends, or the string timeout"""
        try:
            h = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            n = h[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            payload = await asyncio.wait_for(self.reader.readexactly(n), timeout)
            return h[0] & 0x0F, payload
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        except asyncio.TimeoutError:
            return "timeout"

    async def close_code(self, timeout=5):
        """read until the server's close frame: its code (None if the
        connection just ended, -1 if it stayed open); text frames before it
        are collected in self.texts"""
        self.texts = []
        while True:
            f = await self.read_frame(timeout)
            if f is None:
                return None
            if f == "timeout":
                return -1
            op, payload = f
            if op == CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if op == TEXT:
                self.texts.append(payload.decode("utf-8", "replace"))

    def close(self):
        try:
            self.writer.close()
        except Exception:
            pass
