# expect: SBD005
# "Remote control": evaluates whatever arrives on the command topic.
from umqtt.simple import MQTTClient


def on_message(topic, msg):
    result = eval(msg)
    client.publish(b"dev/result", str(result))


client = MQTTClient("dev", "broker.local")
client.set_callback(on_message)
