"""CPU and memory of a process tree, read from /proc: everything a target runs is counted."""

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name may contain spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def _all_parents():
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = int(_stat_fields(name)[1])
            except (OSError, ValueError, IndexError):
                pass
    return parents


def tree(root_pid):
    """root_pid and all its descendants that exist now."""
    parents = _all_parents()
    children = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        if pid in parents or pid == root_pid:
            out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(root_pid):
    """User+system CPU of the tree, including children already reaped (cutime/cstime): monotonic."""
    total = 0
    for pid in tree(root_pid):
        try:
            f = _stat_fields(pid)
            # fields after ')': state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        except (OSError, ValueError, IndexError):
            pass
    return total / CLOCK_TICKS


def memory_kib(root_pid):
    """{'rss': summed RSS, 'pss': summed PSS, 'processes': n} in KiB for the tree."""
    rss = pss = n = 0
    for pid in tree(root_pid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except (OSError, ValueError):
            pass
    return {"rss": rss, "pss": pss, "processes": n}


def peak_rss_kib(pid):
    """VmHWM of one process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0, needs the right to write clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
