# expect: none (near misses for SBD007)
# Downloads settings (data, not code) and caches them.
import urequests


def refresh():
    r = urequests.get("https://cfg.example.net/settings.json")
    with open("settings.json", "w") as f:
        f.write(r.text)
