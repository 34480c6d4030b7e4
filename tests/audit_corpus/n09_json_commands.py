# expect: none (near misses for SBD005)
import json

HANDLERS = {}


def on_message(topic, msg):
    cmd = json.loads(msg)
    handler = HANDLERS.get(cmd.get("op"))
    if handler:
        handler(cmd)


def cursor_run(cursor, sql):
    cursor.execute(sql)
    return eval("1 + 1")
