#!/usr/bin/python3
"""Runs a command under the system-call sandbox of systemd/trtc-sipgw.service without
systemd (CI machines and containers have no systemd as PID 1, so systemd-run cannot
apply the unit there): MemoryDenyWriteExecute= through prctl(PR_SET_MDWE), and
SystemCallFilter=@system-service / ~@privileged with SystemCallErrorNumber=EPERM through
a seccomp filter built from `systemd-analyze syscall-filter`, the same lists systemd uses.

    /usr/bin/python3 scripts/unit-sandbox.py COMMAND [ARGS...]

Used by scripts/appliance-test.sh to show that Tencent's LiteAV SDK loads and runs under
those directives (inside `unshare -n`). Needs python3-seccomp (apt).
"""
import ctypes
import errno
import os
import re
import subprocess
import sys

import seccomp

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def unit_value(unit, key):
    """Every value of `key=` in the unit file, in order."""
    values = []
    with open(unit) as f:
        for line in f:
            m = re.match(r"^\s*%s=(.*)$" % re.escape(key), line)
            if m:
                values.append(m.group(1).strip())
    return values


def expand(group, seen=None):
    """The system calls of a systemd syscall group, nested groups expanded."""
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter", group],
        check=True, capture_output=True, text=True,
    ).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        if word.startswith("@"):
            calls |= expand(word, seen)
        else:
            calls.add(word)
    return calls


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    unit = os.path.join(here, "..", "systemd", "trtc-sipgw.service")
    allow, deny = set(), set()
    for value in unit_value(unit, "SystemCallFilter"):
        names = value.lstrip("~").split()
        target = deny if value.startswith("~") else allow
        for name in names:
            target |= expand(name) if name.startswith("@") else {name}
    if not allow:
        sys.exit("unit-sandbox: the unit has no SystemCallFilter= allow list")
    allowed = allow - deny
    if unit_value(unit, "MemoryDenyWriteExecute") != ["yes"]:
        sys.exit("unit-sandbox: the unit does not set MemoryDenyWriteExecute=yes")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit("unit-sandbox: prctl(PR_SET_MDWE): %s" % os.strerror(ctypes.get_errno()))
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    known = 0
    for name in sorted(allowed):
        try:
            f.add_rule(seccomp.ALLOW, name)
            known += 1
        except (RuntimeError, ValueError):
            pass  # not a system call of this architecture
    # execve itself must pass, for the command to start.
    f.add_rule(seccomp.ALLOW, "execve")
    f.load()
    print("unit-sandbox: MDWE on, %d system calls allowed (%d denied by ~@privileged)"
          % (known, len(deny & allow)), file=sys.stderr)
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main()
