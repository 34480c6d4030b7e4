# expect: SBD002
# webrepl_cfg.py as webrepl_setup leaves it when the stock password was kept.
PASS = "micropythoN"
