# expect: SBD001
# Device TLS identity baked into the source.
DEVICE_CERT_KEY = """-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBq3n0c7sQxqYkDkT0f8dUuVdMZ5s1e8b0a7Hn2WcXy9oAoGCCqGSM49
AwEHoUQDQgAEu8m1tAqW0vQd9e1jJcO3n3RZ0dI4t9nC5wM0eWq3cLqk6u2o8zJm
-----END EC PRIVATE KEY-----
"""
