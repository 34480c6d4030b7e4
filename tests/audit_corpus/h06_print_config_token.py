# expect: SBD006
import config

print("Token:", config.TOKEN)
