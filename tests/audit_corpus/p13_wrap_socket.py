# expect: SBD004
# HTTPS by hand: MicroPython's wrap_socket checks no certificate unless asked.
import socket
import ssl


def get(host, path):
    addr = socket.getaddrinfo(host, 443)[0][-1]
    s = socket.socket()
    s.connect(addr)
    s = ssl.wrap_socket(s, server_hostname=host)
    s.write(b"GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host))
    return s.read()
