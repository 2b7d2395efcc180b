#!/usr/bin/env python3
# Summarize an Autobahn fuzzingclient run (reports/servers/index.json).
# Runs on Python 3 or 2.7. Used by ./run; can be run alone:
#   summarize.py --out DIR [--agent NAME] [--label TEXT]
# A case passes iff behavior is OK / NON-STRICT / INFORMATIONAL *and*
# behaviorClose is OK / INFORMATIONAL (a wrong close code, an unclean close, a
# close by the wrong side or "FAILED BY CLIENT" is a conformance failure).
# Cases that wstest was asked to run but that are absent from the report (the
# server stopped accepting connections, or wstest was killed) count as failed.
# Last line printed: "autobahn: N passed, M failed" (--label replaces "autobahn:"). Exit 0 iff M == 0 and N > 0.
from __future__ import print_function

import ast
import io
import json
import os
import re
import sys

PASS_BEHAVIOR = ("OK", "NON-STRICT", "INFORMATIONAL")
PASS_CLOSE = ("OK", "INFORMATIONAL")
SECTIONS = {
    "1": "Framing", "2": "Pings/Pongs", "3": "Reserved Bits", "4": "Opcodes",
    "5": "Fragmentation", "6": "UTF-8 Handling", "7": "Close Handling",
    "9": "Limits/Performance", "10": "Misc",
    "12": "Compression (payloads)", "13": "Compression (parameters)",
}
COLS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")


def key(cid):
    return tuple(int(x) if x.isdigit() else 0 for x in cid.split("."))


def expected_cases(log_path):
    """The case list wstest printed at start ("Cases = ['1.1.1', ...]")."""
    try:
        with io.open(log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Cases = "):
                    return [str(c) for c in ast.literal_eval(line[len("Cases = "):].strip())]
    except (IOError, OSError, ValueError, SyntaxError):
        pass
    return None


def short(s, n):
    s = re.sub(r"<[^>]*>", " ", s or "")
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def main(argv):
    if sys.version_info[0] == 2:  # report text is unicode; don't die on a non-UTF-8 pipe
        import codecs
        sys.stdout = codecs.getwriter("utf-8")(sys.stdout)
    elif hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    out, agent, label = None, None, "autobahn:"
    i = 0
    while i < len(argv):
        if argv[i] == "--out":
            out = argv[i + 1]; i += 1
        elif argv[i] == "--agent":
            agent = argv[i + 1]; i += 1
        elif argv[i] == "--label":
            label = argv[i + 1]; i += 1
        else:
            print("summarize.py: unknown argument %r" % argv[i], file=sys.stderr)
            return 2
        i += 1
    if not out:
        print("usage: summarize.py --out DIR [--agent NAME]", file=sys.stderr)
        return 2
    servers = os.path.join(out, "reports", "servers")
    index_path = os.path.join(servers, "index.json")
    expected = expected_cases(os.path.join(out, "wstest.log"))

    results = {}
    if os.path.exists(index_path):
        with io.open(index_path, encoding="utf-8") as f:
            index = json.load(f)
        if agent is None and len(index) == 1:
            agent = list(index)[0]
        results = index.get(agent, {})
    else:
        print("autobahn: no report at %s (wstest failed or was killed; see %s)"
              % (index_path, os.path.join(out, "wstest.log")))

    all_ids = set(results)
    if expected is not None:
        all_ids |= set(expected)
    not_run = sorted((c for c in all_ids if c not in results), key=key)

    # per-section table
    sect = {}
    failures = []
    for cid in sorted(all_ids, key=key):
        s = cid.split(".")[0]
        row = sect.setdefault(s, dict((c, 0) for c in COLS + ("BAD-CLOSE", "NOT-RUN", "pass", "fail")))
        if cid not in results:
            row["NOT-RUN"] += 1
            row["fail"] += 1
            failures.append((cid, "NOT RUN", "-", None, "case missing from report (server down / wstest killed)", ""))
            continue
        r = results[cid]
        b, bc = r.get("behavior"), r.get("behaviorClose")
        if b in row:
            row[b] += 1
        else:
            row["FAILED"] += 1
        if bc not in PASS_CLOSE:
            row["BAD-CLOSE"] += 1
        if b in PASS_BEHAVIOR and bc in PASS_CLOSE:
            row["pass"] += 1
        else:
            row["fail"] += 1
            detail = {}
            rf = r.get("reportfile")
            if rf and os.path.exists(os.path.join(servers, rf)):
                try:
                    with io.open(os.path.join(servers, rf), encoding="utf-8") as f:
                        detail = json.load(f)
                except ValueError:
                    detail = {}
            why = []
            if b == "UNIMPLEMENTED":
                why.append("extension not negotiated by the server")
            elif b not in PASS_BEHAVIOR:
                why.append(detail.get("result") or "")
            if bc not in PASS_CLOSE:
                why.append(detail.get("resultClose") or "")
            failures.append((cid, b, bc, r.get("remoteCloseCode"),
                             short(" / ".join(w for w in why if w), 90),
                             short(detail.get("description", ""), 70)))

    hdr = "%-4s %-24s %5s %5s %5s %5s %6s %6s %6s %6s %5s %5s" % (
        "sect", "name", "cases", "OK", "NSTR", "INFO", "UNIMP", "FAILED", "BADCLS", "NOTRUN", "pass", "fail")
    print(hdr)
    print("-" * len(hdr))
    tot = dict((k, 0) for k in COLS + ("BAD-CLOSE", "NOT-RUN", "pass", "fail"))
    for s in sorted(sect, key=lambda x: int(x) if x.isdigit() else 0):
        row = sect[s]
        n = row["pass"] + row["fail"]
        print("%-4s %-24s %5d %5d %5d %5d %6d %6d %6d %6d %5d %5d" % (
            s, SECTIONS.get(s, "?")[:24], n, row["OK"], row["NON-STRICT"], row["INFORMATIONAL"],
            row["UNIMPLEMENTED"], row["FAILED"], row["BAD-CLOSE"], row["NOT-RUN"], row["pass"], row["fail"]))
        for k in tot:
            tot[k] += row[k]
    print("-" * len(hdr))
    print("%-4s %-24s %5d %5d %5d %5d %6d %6d %6d %6d %5d %5d" % (
        "all", "", tot["pass"] + tot["fail"], tot["OK"], tot["NON-STRICT"], tot["INFORMATIONAL"],
        tot["UNIMPLEMENTED"], tot["FAILED"], tot["BAD-CLOSE"], tot["NOT-RUN"], tot["pass"], tot["fail"]))
    print("(BADCLS = behaviorClose not OK/INFORMATIONAL; counted as failed even when behavior is OK)")

    if failures:
        print("")
        print("failing cases (%d):" % len(failures))
        print("  %-8s %-13s %-16s %-5s %s" % ("case", "behavior", "behaviorClose", "code", "why | description"))
        for cid, b, bc, code, why, desc in failures:
            print("  %-8s %-13s %-16s %-5s %s%s" % (cid, b, bc, "-" if code is None else code, why,
                                                   (" | " + desc) if desc else ""))
        print("details: %s/<agent>_case_<id>.html (or .json)" % servers)

    npass, nfail = tot["pass"], tot["fail"]
    if npass + nfail == 0:
        print("autobahn: no cases ran (check --cases / exclusions and %s)" % os.path.join(out, "wstest.log"))
        nfail = 1
    print("%s %d passed, %d failed" % (label, npass, nfail))
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
