import network
from sbd import creds, identity

me = identity.load()  # refuses to go on without a valid factory record
wlan = network.WLAN(network.STA_IF)
wlan.active(True)
wlan.connect(creds.get("ssid"), creds.get("wifi"))
