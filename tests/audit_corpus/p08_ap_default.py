# expect: SBD002
# Setup hotspot for first configuration.
import network

ap = network.WLAN(network.AP_IF)
ap.config(essid="Sensor-Setup", password="12345678")
ap.active(True)
