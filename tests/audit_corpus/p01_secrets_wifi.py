# expect: SBD001
# secrets.py: the usual "put your Wi-Fi here" file, committed with real values.
SSID = "Workshop-2G"
PASSWORD = "tr0ub4dor&3horse"
