# expect: none (near misses for SBD006)
CONFIG = {"ssid": "x", "interval": 60}
SSID = CONFIG["ssid"]
print("Connecting to", SSID)
for key in CONFIG:
    print(key, CONFIG[key])
