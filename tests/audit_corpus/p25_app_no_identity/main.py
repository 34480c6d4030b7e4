import time

import network
from config import BROKER
from umqtt.simple import MQTTClient

wlan = network.WLAN(network.STA_IF)
wlan.active(True)
wlan.connect("lab", open("wifi.pw").read())
while not wlan.isconnected():
    time.sleep(1)
client = MQTTClient("node", BROKER)
client.connect()
