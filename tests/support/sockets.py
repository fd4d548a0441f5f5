"""A socket.io client as the server sees it, without a network: for calling event handlers directly.

`ConnectedSocket.open(sio)` does what engine.io does when a browser connects: it registers an
engine.io socket on the server and hands python-socketio the client's CONNECT packet, so the
server's `connect` handler runs and the sid is in the default namespace. Handlers can then be
called with that sid and any data; `events()` decodes what the server sent to the socket.
"""
from __future__ import annotations

from typing import Any, List, Tuple

import socketio
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

ENVIRON = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET", "QUERY_STRING": "EIO=4&transport=polling"}


class ConnectedSocket:
    """One connected socket.io client of `sio` (default namespace)."""

    def __init__(self, sio: socketio.AsyncServer, eio_sid: str, sid: str) -> None:
        """Use `open()`."""
        self.server = sio
        self.eio_sid = eio_sid
        self.sid = sid

    @classmethod
    async def open(cls, sio: socketio.AsyncServer) -> "ConnectedSocket":
        """Connect as a client would (engine.io socket, then socket.io's CONNECT packet)."""
        eio_sid = sio.eio.generate_id()
        socket = AsyncSocket(sio.eio, eio_sid)
        socket.connected = True
        sio.eio.sockets[eio_sid] = socket
        await sio._handle_eio_connect(eio_sid, dict(ENVIRON))
        await sio._handle_eio_message(eio_sid, "0")  # socket.io CONNECT to "/"
        sid = sio.manager.sid_from_eio_sid(eio_sid, "/")
        assert sid is not None, "the server refused the connection"
        opened = cls(sio, eio_sid, sid)
        opened.events()  # the CONNECT acknowledgement
        return opened

    def _socket(self) -> AsyncSocket:
        return self.server.eio.sockets[self.eio_sid]

    def events(self) -> List[Tuple[str, Any]]:
        """(event name, argument) of every event the server sent since the last call."""
        queue = self._socket().queue
        found = []
        while not queue.empty():
            sent = queue.get_nowait()
            queue.task_done()
            if sent is None or sent.packet_type != eio_packet.MESSAGE:
                continue
            decoded = sio_packet.Packet(encoded_packet=sent.data)
            if decoded.packet_type == sio_packet.EVENT:
                name, *args = decoded.data
                found.append((name, args[0] if args else None))
        return found

    async def close(self) -> None:
        """Disconnect as a client that went away (the server's rooms forget the sid)."""
        await self.server._handle_eio_disconnect(self.eio_sid, self.server.reason.CLIENT_DISCONNECT)
        self.server.eio.sockets.pop(self.eio_sid, None)
