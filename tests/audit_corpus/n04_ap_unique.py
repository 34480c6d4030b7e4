# expect: none (near misses for SBD002,SBD001)
# The setup hotspot's password is unique per board (printed on its label).
import network
import ubinascii
from sbd import identity

ap = network.WLAN(network.AP_IF)
me = identity.load()
ap.config(essid="Sensor-" + me.serial, password=ubinascii.hexlify(me.derive_key("ap")[:8]))
PASSWORD_HINT = "the 16 characters on the label"
