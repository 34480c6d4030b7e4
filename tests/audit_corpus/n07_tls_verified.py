# expect: none (near misses for SBD004)
import ssl

with open("/certs/ca.der", "rb") as f:
    CA = f.read()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(cadata=CA)


def wrap(sock, host):
    return ctx.wrap_socket(sock, server_hostname=host)
