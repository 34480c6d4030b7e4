# expect: SBD006
import network

with open("wifi.txt") as f:
    ssid, password = f.read().split()
print("connecting to", ssid, "with", password)
network.WLAN(network.STA_IF).connect(ssid, password)
