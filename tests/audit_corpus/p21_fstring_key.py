# expect: SBD006
def show(cfg):
    api_key = cfg["api_key"]
    print(f"config loaded, key={api_key}")
