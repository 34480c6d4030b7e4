BROKER = "mqtt.example.net"
