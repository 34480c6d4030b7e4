# expect: SBD006
class Logger:
    def debug(self, *a):
        print(*a)


log = Logger()


def login(user, pwd):
    log.debug("login " + user + " pwd=" + pwd)
