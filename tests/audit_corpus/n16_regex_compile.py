# expect: none (near misses for SBD005)
# Method calls that share a name with the builtins are not eval/exec.
import re


class Shell:
    def exec(self, line):
        return line.split()


PATTERN = re.compile(r"^[a-z]+$")


def run(shell, line):
    if PATTERN.match(line):
        return shell.exec(line)
    return None
