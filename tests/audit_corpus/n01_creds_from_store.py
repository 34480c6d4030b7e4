# expect: none (near misses for SBD001,SBD006)
# Credentials come from the device's store, never from the source.
from sbd import creds

PASSWORD_FILE = "/.sbd/state/wifi.pw"
MIN_PASSWORD_LEN = 8
PASSWORD_PROMPT = "Enter the Wi-Fi password: "


def wifi_password():
    return creds.get("wifi")
