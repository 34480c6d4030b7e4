# expect: SBD002
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"


def check(user, pw):
    return user == ADMIN_USER and pw == ADMIN_PASSWORD
