# expect: SBD001
# limit: miss SBD001 (a passphrase with spaces reads like a message)
password = "correct horse battery staple"
