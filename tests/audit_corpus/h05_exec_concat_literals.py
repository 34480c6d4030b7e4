# expect: none (near misses for SBD005)
# limit: false SBD005 (only literals, joined; the check wants one literal)
exec("import " + "gc")
