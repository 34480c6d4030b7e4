# expect: SBD001
# limit: miss SBD001 (a key inside a URL query string under a non-secret name)
import urequests

URL = "https://api.weather.example/v1/now?q=Leeds&appid=4f9b2c7d1e8a3f6b0c5d9e2a7b1f4c8d"


def now():
    return urequests.get(URL).json()
