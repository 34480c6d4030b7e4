# expect: SBD001
import time

import network

wlan = network.WLAN(network.STA_IF)
wlan.active(True)
wlan.connect("Cafe Guest", "latte-art-42")
while not wlan.isconnected():
    time.sleep_ms(200)
