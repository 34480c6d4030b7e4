# expect: SBD005
from machine import UART

uart = UART(0, 115200)


def poll():
    line = uart.readline()
    if line:
        exec(line, {"uart": uart})
