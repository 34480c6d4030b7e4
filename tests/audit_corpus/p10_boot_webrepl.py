# expect: SBD003
# boot.py
import gc

import webrepl

webrepl.start()
gc.collect()
