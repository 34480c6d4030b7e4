# expect: SBD007
# Self-updating: pull the latest library at boot.
import mip

mip.install("github:example/sensor-lib")
