# expect: none (near misses for SBD001)
# secrets.py template: fill these in on the device with `sbd creds`, not here.
WIFI_SSID = "my-network"
WIFI_PASSWORD = ""
API_TOKEN = "<your token>"
API_KEY = "YOUR_API_KEY_HERE"
MQTT_PASSWORD = None
