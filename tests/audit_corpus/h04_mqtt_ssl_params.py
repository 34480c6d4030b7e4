# expect: SBD004
import ssl

from umqtt.simple import MQTTClient

client = MQTTClient("n1", "broker.example.net", port=8883, ssl=True, ssl_params={"cert_reqs": ssl.CERT_NONE})
