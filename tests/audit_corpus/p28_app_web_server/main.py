# A small status page on port 80.
import socket

PAGE = b"HTTP/1.0 200 OK\r\n\r\n<h1>ok</h1>"

srv = socket.socket()
srv.bind(socket.getaddrinfo("0.0.0.0", 80)[0][-1])
srv.listen(2)
while True:
    c, _ = srv.accept()
    c.recv(512)
    c.send(PAGE)
    c.close()
