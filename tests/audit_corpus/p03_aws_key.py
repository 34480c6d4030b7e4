# expect: SBD001
# Uploads readings straight to a bucket.
import urequests

ACCESS = "AKIAQ3EGRJ7YV5NLMT2P"


def upload(body):
    return urequests.put("https://bucket.example.net/r", data=body, headers={"x-access": ACCESS})
