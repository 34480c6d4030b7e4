# expect: SBD001
secrets = {
    "ssid": "Allotment",
    "pw": "hunter2hunter2",
}
