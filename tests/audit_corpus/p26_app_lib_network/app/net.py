import network


def up():
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    with open("/wifi.cfg") as f:
        sta.connect(*f.read().split())
    return sta
