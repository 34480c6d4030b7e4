# expect: SBD007
# limit: miss SBD007 (the code file's name comes from the server)
import urequests


def pull(name):
    r = urequests.get("http://10.0.0.5/files/" + name)
    with open("/lib/" + name, "wb") as f:
        f.write(r.content)
