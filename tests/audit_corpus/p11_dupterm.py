# expect: SBD003
# Mirror the REPL onto UART1 for the debug header.
import os

from machine import UART

uart = UART(1, 115200)
os.dupterm(uart, 1)
