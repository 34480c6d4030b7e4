# expect: none (near misses for SBD001)
TOKEN_EXPIRY_S = 3600
PASSWORD = input("pw: ")
SECRET_BYTES = 32
auth_token = None
