# expect: SBD004
import ussl


def secure(sock, host):
    return ussl.wrap_socket(sock, server_hostname=host, cert_reqs=0)
