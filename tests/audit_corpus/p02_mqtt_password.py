# expect: SBD001
from umqtt.simple import MQTTClient

client = MQTTClient("sensor-17", "broker.example.net", user="sensor", password="Xk29!qpLm7", keepalive=60)
client.connect()
client.publish(b"home/sensor/temp", b"21.5")
