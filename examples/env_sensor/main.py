# env_sensor's main.py: serve the configuration page on port 80 and measure.
import env_sensor

env_sensor.main()
