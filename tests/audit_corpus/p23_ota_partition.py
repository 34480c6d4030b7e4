# expect: SBD007
# Writes a downloaded firmware image into the next OTA partition.
import socket

from esp32 import Partition


def flash_from(host, port):
    nxt = Partition(Partition.RUNNING).get_next_update()
    s = socket.socket()
    s.connect(socket.getaddrinfo(host, port)[0][-1])
    block = 0
    buf = bytearray(4096)
    while True:
        n = s.readinto(buf)
        if not n:
            break
        nxt.writeblocks(block, buf)
        block += 1
    nxt.set_boot()
