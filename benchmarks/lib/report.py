"""Turns bench.py's results into the Markdown tables of benchmarks/README.md."""

import statistics


def _ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def _agg(runs):
    """Totals over the interleaved rounds of one (target, concurrency)."""
    elapsed = sum(r["elapsed_s"] for r in runs)
    messages = sum(r["messages"] for r in runs)
    return {
        "sessions_per_s": sum(r["sessions_ok"] for r in runs) / elapsed,
        "messages_per_s": messages / elapsed,
        "mb_per_s": sum(r["bytes"] for r in runs) / elapsed / 1e6,
        "cpu_per_1k": 1000 * sum(r["target_cpu_s"] for r in runs) / messages if messages else 0,
        "upstream_cpu_per_1k": (1000 * sum(r.get("upstream_cpu_s", 0) for r in runs) / messages
                                if messages else 0),
        "failed": sum(r["sessions_failed"] for r in runs),
        "loadgen_core": max(r["loadgen_cpu_s"] / r["elapsed_s"] for r in runs),
    }


def _latency(runs, command, key):
    values = [r["latency"][command][key] for r in runs if command in r["latency"]]
    if not values:
        return None
    # p50: the median over rounds; p99/p999: the worst round.
    return statistics.median(values) if key == "p50_us" else max(values)


def scaling_markdown(scaling, scaling_snapshot=None):
    """The --workers 1 vs 2 rows at c=64 (bench.py's scaling scenario)."""
    if not scaling.get("1") or not scaling.get("2"):
        return []
    one, two = _agg(scaling["1"]), _agg(scaling["2"])
    out = ["### Scaling with cores: popgate --workers 1 vs --workers 2 (c=64, same run)", "",
           "Mail loop (connect, USER, PASS, STAT, UIDL, RETR all, QUIT):", "",
           "| workers | msg/s | MB/s | sessions/s | CPU s per 1k messages | failed sessions | **msg/s vs 1 worker** |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, a in (("1", one), ("2", two)):
        out.append(f"| {name} | {a['messages_per_s']:.0f} | {a['mb_per_s']:.0f} | {a['sessions_per_s']:.0f} | "
                   f"{a['cpu_per_1k']:.3f} | {a['failed']} | **{_ratio(a['messages_per_s'], one['messages_per_s'])}** |")
    out.append("")
    snap = scaling_snapshot or {}
    if snap.get("1") and snap.get("2"):
        def totals(runs):
            elapsed = sum(r["elapsed_s"] for r in runs)
            return {"rate": sum(r["commands"] for r in runs) / elapsed,
                    "popgate_cores": sum(r["target_cpu_s"] for r in runs) / elapsed,
                    "loadgen_cores": sum(r["loadgen_cpu_s"] for r in runs) / elapsed,
                    "failed": sum(r["sessions_failed"] for r in runs)}
        base = totals(snap["1"])["rate"]
        out += ["Snapshot commands, pipelined (STAT, LIST, UIDL answered from memory, 16 rounds per write; the "
                "upstream idle after the logins):", "",
                "| workers | commands/s | popgate cores | load generator cores | failed sessions "
                "| **commands/s vs 1 worker** |",
                "| --- | --- | --- | --- | --- | --- |"]
        for name in ("1", "2"):
            t = totals(snap[name])
            out.append(f"| {name} | {t['rate']:.0f} | {t['popgate_cores']:.2f} | {t['loadgen_cores']:.2f} | "
                       f"{t['failed']} | **{_ratio(t['rate'], base)}** |")
        out.append("")
    return out


def login_markdown(login):
    """Login latency with upstream session reuse on and off, by concurrency (bench.py's login scenario)."""
    rows = []
    for c, runs in sorted(login.items(), key=lambda item: int(item[0])):
        if not runs.get("on") or not runs.get("off"):
            continue
        on_p50, off_p50 = _latency(runs["on"], "PASS", "p50_us"), _latency(runs["off"], "PASS", "p50_us")
        on_p99, off_p99 = _latency(runs["on"], "PASS", "p99_us"), _latency(runs["off"], "PASS", "p99_us")
        rate = {k: sum(r["sessions_ok"] for r in v) / sum(r["elapsed_s"] for r in v) for k, v in runs.items()}
        failed = sum(r["sessions_failed"] for v in runs.values() for r in v)
        rows.append(f"| {c} | {on_p50:.0f} / {on_p99:.0f} | {off_p50:.0f} / {off_p99:.0f} | "
                    f"**{_ratio(on_p50, off_p50)} / {_ratio(on_p99, off_p99)}** | {rate['on']:.0f} | {rate['off']:.0f} | "
                    f"{failed} |")
    if not rows:
        return []
    return ["### Login latency: upstream session reuse on vs --upstream-reuse-time 0 (connect, USER, PASS, STAT, "
            "QUIT; PASS in µs, p50 / p99)", "",
            "| c | reuse on | reuse off | **on/off** | sessions/s on | sessions/s off | failed sessions |",
            "| --- | --- | --- | --- | --- | --- | --- |", *rows, ""]


def store_markdown(store):
    """Login latency and msg/s with the local state store and with Redis on loopback (bench.py's store scenario)."""
    local, redis = store.get("local"), store.get("redis")
    if not local or not redis:
        return []
    rows = []
    for c in (1, 16):
        key = f"login_c{c}"
        if key not in local or key not in redis:
            continue
        lp50, rp50 = _latency(local[key], "PASS", "p50_us"), _latency(redis[key], "PASS", "p50_us")
        lp99, rp99 = _latency(local[key], "PASS", "p99_us"), _latency(redis[key], "PASS", "p99_us")
        rate = {n: sum(r["sessions_ok"] for r in v[key]) / sum(r["elapsed_s"] for r in v[key])
                for n, v in (("local", local), ("redis", redis))}
        failed = sum(r["sessions_failed"] for v in (local, redis) for r in v[key])
        rows.append(f"| login, c={c} | {lp50:.0f} / {lp99:.0f} µs | {rp50:.0f} / {rp99:.0f} µs | "
                    f"**{_ratio(rp50, lp50)} / {_ratio(rp99, lp99)}** | {rate['local']:.0f} / {rate['redis']:.0f} "
                    f"sessions/s | {failed} |")
    if "loop_c16" in local and "loop_c16" in redis:
        lm, rm = _agg(local["loop_c16"]), _agg(redis["loop_c16"])
        rows.append(f"| mail loop, c=16 | {lm['messages_per_s']:.0f} msg/s | {rm['messages_per_s']:.0f} msg/s | "
                    f"**{_ratio(rm['messages_per_s'], lm['messages_per_s'])}** | {lm['sessions_per_s']:.0f} / "
                    f"{rm['sessions_per_s']:.0f} sessions/s | {lm['failed'] + rm['failed']} |")
    return ["### State store: --state-store local vs redis:// on loopback (reuse off: every login takes a lease; "
            "PASS p50 / p99)", "",
            "| run | local | redis | **redis/local** | rate local / redis | failed sessions |",
            "| --- | --- | --- | --- | --- | --- |", *rows, ""]


SNAPSHOT_VARIANTS = {
    "held": "sessions stay logged in for the run",
    "churn": "each session logs in again after 50 rounds, about 128 logins/s",
}


def snapshot_markdown(snapshot):
    """STAT/LIST/UIDL latency at c=64, paced (bench.py's snapshot scenario), one table per variant."""
    out = []
    for variant, what in SNAPSHOT_VARIANTS.items():
        runs = snapshot.get(variant, {})
        if not runs.get("popgate"):
            continue
        targets = [t for t in ("popgate", "peer", "native") if runs.get(t)]
        rows = []
        for command in ("STAT", "LIST", "UIDL"):
            cells = []
            for t in targets:
                p50, p99 = _latency(runs[t], command, "p50_us"), _latency(runs[t], command, "p99_us")
                cells.append(f"{p50:.0f} / {p99:.0f}" if p50 is not None else "n/a")
            native_p99 = _latency(runs["native"], command, "p99_us") if "native" in targets else None
            popgate_p99 = _latency(runs["popgate"], command, "p99_us")
            rows.append(f"| {command} | " + " | ".join(cells) + f" | **{_ratio(popgate_p99, native_p99)}** |")
        failed = sum(r["sessions_failed"] for t in targets for r in runs[t])
        out += [f"### Commands answered from the snapshot at c=64, paced (10 ms ± 50% between rounds; {what}), "
                "µs p50 / p99", "",
                "| command | " + " | ".join(targets) + " | **popgate/native p99** |",
                "| --- | " + " | ".join("---" for _ in targets) + " | --- |", *rows, "",
                f"Failed sessions: {failed}.", ""]
    return out


def markdown(res):
    loop, idle, big = res["loop"], res["idle"], res["big"]
    if not loop:
        return "\n".join(snapshot_markdown(res.get("snapshot", {}))
                         + scaling_markdown(res.get("scaling", {}), res.get("scaling_snapshot"))
                         + login_markdown(res.get("login", {})) + store_markdown(res.get("store", {}))
                         or ["(no loop runs)"])
    out = []
    out.append(f"Run: {res['date']}, {res['machine']}, {'--quick' if res['quick'] else 'full'} mode, "
               f"{res['wall_seconds']:.0f} s wall. Mean mailbox: {res['mailbox_mean_octets'] / 1e6:.2f} MB "
               f"in {res.get('messages_per_user', 8)} messages (2 KiB to 10 MiB).")
    out.append("")
    out.append("### Throughput (loop: connect, USER, PASS, STAT, UIDL, RETR all, QUIT)")
    out.append("")
    out.append("| c | popgate msg/s | peer msg/s | native msg/s | **popgate/peer** | popgate MB/s | peer MB/s "
               "| popgate sessions/s | peer sessions/s | failed sessions (popgate/peer) |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    agg = {t: {c: _agg(runs) for c, runs in per_c.items()} for t, per_c in loop.items()}
    concurrencies = sorted({int(c) for per_c in loop.values() for c in per_c})
    for c in map(str, concurrencies):
        p, q, n = agg["popgate"][c], agg["peer"][c], agg.get("native", {}).get(c)
        out.append(f"| {c} | {p['messages_per_s']:.0f} | {q['messages_per_s']:.0f} | "
                   f"{n['messages_per_s'] if n else 0:.0f} | **{_ratio(p['messages_per_s'], q['messages_per_s'])}** | "
                   f"{p['mb_per_s']:.0f} | {q['mb_per_s']:.0f} | {p['sessions_per_s']:.0f} | "
                   f"{q['sessions_per_s']:.0f} | {p['failed']}/{q['failed']} |")
    out.append("")
    out.append("### CPU seconds per 1,000 retrieved messages (all processes of each target, from /proc)")
    out.append("")
    out.append("| c | popgate | peer | **popgate/peer** | native POP3 | upstream IMAP behind popgate | "
               "upstream IMAP behind peer |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for c in map(str, concurrencies):
        p, q, n = agg["popgate"][c], agg["peer"][c], agg.get("native", {}).get(c)
        out.append(f"| {c} | {p['cpu_per_1k']:.3f} | {q['cpu_per_1k']:.3f} | "
                   f"**{_ratio(p['cpu_per_1k'], q['cpu_per_1k'])}** | {n['cpu_per_1k'] if n else 0:.3f} | "
                   f"{p['upstream_cpu_per_1k']:.3f} | {q['upstream_cpu_per_1k']:.3f} |")
    loadgen_core = max(a["loadgen_core"] for per_c in agg.values() for a in per_c.values())
    out.append("")
    out.append(f"The load generator used at most {loadgen_core:.2f} of a core in any run.")
    snapshot = snapshot_markdown(res.get("snapshot", {}))
    if snapshot:
        out.append("")
        out.extend(snapshot[:-1])
    scaling = scaling_markdown(res.get("scaling", {}), res.get("scaling_snapshot"))
    if scaling:
        out.append("")
        out.extend(scaling[:-1])
    login = login_markdown(res.get("login", {}))
    if login:
        out.append("")
        out.extend(login[:-1])
    store = store_markdown(res.get("store", {}))
    if store:
        out.append("")
        out.extend(store[:-1])
    for c in ("64", "1"):
        if c not in loop.get("popgate", {}):
            continue
        out.append("")
        out.append(f"### Latency per command at c={c}, microseconds (p50 / p99)")
        out.append("")
        out.append("| command | popgate | peer | native | **popgate/peer p99** |")
        out.append("| --- | --- | --- | --- | --- |")
        for command in ("connect", "USER", "PASS", "STAT", "UIDL", "RETR", "QUIT"):
            cells = []
            p99s = {}
            for t in ("popgate", "peer", "native"):
                runs = loop.get(t, {}).get(c, [])
                p50, p99 = _latency(runs, command, "p50_us"), _latency(runs, command, "p99_us")
                p99s[t] = p99
                cells.append(f"{p50:.0f} / {p99:.0f}" if p50 is not None else "n/a")
            out.append(f"| {command} | {' | '.join(cells)} | **{_ratio(p99s['popgate'], p99s['peer'])}** |")
    out.append("")
    out.append("### Memory per idle logged-in session (sum over all processes of the target; KiB)")
    out.append("")
    out.append("| sessions | popgate RSS | popgate PSS | peer RSS | peer PSS | **popgate/peer (PSS)** |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for n in sorted({int(k) for per in idle.values() for k in per}):
        p = idle.get("popgate", {}).get(str(n))
        q = idle.get("peer", {}).get(str(n))

        def cell(r, key):
            return f"{r[key]:.1f}" if r else "not run"

        def logged(r):
            return "" if not r or r["logged_in"] == n else f" ({r['logged_in']} logged in)"

        out.append(f"| {n} | {cell(p, 'rss_per_session_kib')}{logged(p)} | {cell(p, 'pss_per_session_kib')} | "
                   f"{cell(q, 'rss_per_session_kib')}{logged(q)} | {cell(q, 'pss_per_session_kib')} | "
                   f"**{_ratio(p and p['pss_per_session_kib'], q and q['pss_per_session_kib'])}** |")
    out.append("")
    out.append("### RETR of one 100 MB message (second of two in a row; median of rounds)")
    out.append("")
    out.append("| target | MB/s | first of the two, MB/s | peak RSS rise over both (MiB, sampled every 10 ms) "
               "| popgate VmHWM rise (MiB) |")
    out.append("| --- | --- | --- | --- | --- |")
    for t in ("popgate", "peer", "native", "imap-raw"):
        runs = big.get(t, [])
        if not runs:
            continue
        speed = statistics.median(r["mb_per_s"] for r in runs)
        first = statistics.median(r.get("first_mb_per_s", 0) for r in runs)
        rise = max(r["sampled_peak_rise_kib"] for r in runs) / 1024
        hwm = max((r.get("hwm_rise_kib", 0) for r in runs), default=0) / 1024
        name = {"imap-raw": "raw IMAP FETCH from the upstream", "native": "native Dovecot POP3"}.get(t, t)
        out.append(f"| {name} | {speed:.0f} | {first:.0f} | {rise:.1f} | {f'{hwm:.1f}' if t == 'popgate' else ''} |")
    if big.get("popgate") and big.get("imap-raw"):
        p = statistics.median(r["mb_per_s"] for r in big["popgate"])
        r = statistics.median(r["mb_per_s"] for r in big["imap-raw"])
        out.append("")
        # Round i of each ran next to each other (bench.py): one ratio per round.
        ratios = sorted(a["mb_per_s"] / b["mb_per_s"] for a, b in zip(big["popgate"], big["imap-raw"]))
        firsts = sorted(a.get("first_mb_per_s", 0) / b["first_mb_per_s"]
                        for a, b in zip(big["popgate"], big["imap-raw"]) if b.get("first_mb_per_s"))
        out.append(f"popgate streams at {100 * p / r:.0f}% of the raw IMAP fetch (medians). Per round, "
                   f"popgate next to the raw fetch: median {100 * statistics.median(ratios):.0f}% "
                   f"(rounds: {', '.join(f'{100 * x:.0f}%' for x in ratios)})"
                   + (f"; on the first of each two: median {100 * statistics.median(firsts):.0f}%." if firsts else "."))
    out.append("")
    return "\n".join(out)
