"""A minimal DHCPv4 client: DISCOVER, OFFER, REQUEST, ACK on one interface; prints the address.

Run inside a network namespace the test made: ``python dhcpclient.py IFACE MAC HOSTNAME
[TIMEOUT]``. It asks for broadcast replies (the interface has no address yet) and sends its
hostname, so the lease that libvirt reports carries it. Bounded: it gives up after TIMEOUT s.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

iface, mac, hostname = sys.argv[1], sys.argv[2], sys.argv[3]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
chaddr = bytes.fromhex(mac.replace(":", ""))
xid = int.from_bytes(os.urandom(4), "big")
MAGIC = b"\x63\x82\x53\x63"


def packet(kind, extra=b""):
    head = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1,
        1,
        6,
        0,
        xid,
        0,
        0x8000,
        *(b"\0" * 4,) * 4,
        chaddr,
        b"",
        b"",
    )
    name = hostname.encode()
    opts = bytes([53, 1, kind]) + bytes([12, len(name)]) + name + extra + b"\xff"
    return head + MAGIC + opts


def options(data):
    out, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        out[data[i]] = data[i + 2 : i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    return out


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
sock.bind(("0.0.0.0", 68))
deadline = time.monotonic() + timeout


def exchange(kind, extra, want):
    while time.monotonic() < deadline:
        sock.sendto(packet(kind, extra), ("255.255.255.255", 67))
        sock.settimeout(2.0)
        try:
            while True:
                data, _ = sock.recvfrom(4096)
                if len(data) > 240 and struct.unpack("!I", data[4:8])[0] == xid:
                    opts = options(data)
                    if opts.get(53) == bytes([want]):
                        return data, opts
        except TimeoutError:
            continue
    sys.exit(f"no DHCP answer on {iface} within {timeout}s")


offer, opts = exchange(1, b"", 2)
yiaddr, server = offer[16:20], opts[54]


ack, _ = exchange(3, bytes([50, 4]) + yiaddr + bytes([54, 4]) + server, 5)
print(socket.inet_ntoa(ack[16:20]))
