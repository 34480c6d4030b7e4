# expect: SBD006
import logging

log = logging.getLogger("cloud")


def login(api):
    token = api.fetch_token()
    log.info("got token %s" % token)
    return token
