# expect: SBD007
# Pull-style OTA: fetch main.py from the server and reboot into it.
import machine
import urequests

URL = "http://updates.example.net/device/main.py"


def update():
    r = urequests.get(URL)
    if r.status_code == 200:
        with open("main.py", "w") as f:
            f.write(r.text)
        machine.reset()
