# expect: none (near misses for SBD004)
import ssl


def wrap(sock, host, ca):
    return ssl.wrap_socket(sock, server_hostname=host, cert_reqs=ssl.CERT_REQUIRED, cadata=ca)
