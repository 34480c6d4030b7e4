# expect: none (near misses for SBD006,SBD002)
import logging

log = logging.getLogger("net")


def report(password, token):
    print("password length", len(password))
    print("password set:", password is not None)
    log.info("login ok, token received: %s", bool(token))
    print("Enter password:")
