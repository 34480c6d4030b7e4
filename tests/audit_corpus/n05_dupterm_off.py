# expect: none (near misses for SBD003)
# Production boot: detach the REPL from UART0.
import os

os.dupterm(None, 0)
HELP = "WebREPL is not available on production units"
