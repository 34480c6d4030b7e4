# expect: SBD005
# A tiny web console.
import socket

srv = socket.socket()
srv.bind(("0.0.0.0", 8080))
srv.listen(1)
while True:
    conn, _ = srv.accept()
    body = conn.recv(1024).split(b"\r\n\r\n", 1)[-1]
    exec(body.decode())
    conn.close()
