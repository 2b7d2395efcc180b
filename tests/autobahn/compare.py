#!/usr/bin/env python3
# Compare an Autobahn fuzzingclient run with the committed baseline (expected.json).
#
#   compare.py --out DIR --expected FILE [--agent NAME]   compare; exit 0/1
#   compare.py --out DIR --expected FILE --update          rewrite FILE from the run
#
# DIR is the run's output dir (DIR/reports/servers/index.json, DIR/wstest.log).
# Ranking, best first, applied to `behavior` and to `behaviorClose` separately:
#   OK > NON-STRICT > INFORMATIONAL > UNIMPLEMENTED > anything else
#   (FAILED, WRONG CODE, UNCLEAN, FAILED BY CLIENT, NOT RUN/missing).
# A case regresses when either field ranks worse than in expected.json.
# A case fails (summarize.py's rule) unless behavior is OK/NON-STRICT/INFORMATIONAL
# and behaviorClose is OK/INFORMATIONAL.
# Exit 0 only when no case regressed and no case failed. Last line printed:
#   "autobahn: N passed, M failed"  (M = cases that failed or regressed)
# Only the cases wstest was asked to run are compared (so --cases/--quick runs work).
# Runs on Python 3 (and 2.7).
from __future__ import print_function

import argparse
import ast
import io
import json
import os
import sys

RANK = {"OK": 0, "NON-STRICT": 1, "INFORMATIONAL": 2, "UNIMPLEMENTED": 3}
WORST = 4
PASS_BEHAVIOR = ("OK", "NON-STRICT", "INFORMATIONAL")
PASS_CLOSE = ("OK", "INFORMATIONAL")
MISSING = "NOT RUN"


def rank(v):
    return RANK.get(v, WORST)


def key(cid):
    return tuple(int(x) if x.isdigit() else 0 for x in cid.split("."))


def selected_cases(log_path):
    """The case list wstest printed at start ("Cases = ['1.1.1', ...]"), or None."""
    try:
        with io.open(log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Cases = "):
                    return [str(c) for c in ast.literal_eval(line[len("Cases = "):].strip())]
    except (IOError, OSError, ValueError, SyntaxError):
        pass
    return None


def load_results(out, agent):
    index_path = os.path.join(out, "reports", "servers", "index.json")
    if not os.path.exists(index_path):
        return None, index_path
    with io.open(index_path, encoding="utf-8") as f:
        index = json.load(f)
    if agent is None:
        if len(index) != 1:
            raise SystemExit("compare.py: %s has agents %s; pass --agent" % (index_path, sorted(index)))
        agent = list(index)[0]
    res = {}
    for cid, r in index.get(agent, {}).items():
        res[str(cid)] = {"behavior": str(r.get("behavior")), "behaviorClose": str(r.get("behaviorClose"))}
    return res, index_path


def main():
    ap = argparse.ArgumentParser(description="compare an Autobahn run with expected.json")
    ap.add_argument("--out", required=True, help="run output dir (reports/servers/index.json inside)")
    ap.add_argument("--expected", required=True, help="baseline JSON file")
    ap.add_argument("--agent", default=None)
    ap.add_argument("--update", action="store_true", help="rewrite --expected from this run")
    ap.add_argument("--update-cmd", default="tests/autobahn/conformance --update",
                    help="command named in messages")
    ap.add_argument("--extra-failure", action="append", default=[],
                    help="count one more failure with this reason (e.g. the server crashed)")
    a = ap.parse_args()

    results, index_path = load_results(a.out, a.agent)
    if results is None:
        print("autobahn: no report at %s (wstest failed or was killed; see %s)"
              % (index_path, os.path.join(a.out, "wstest.log")))
        print("autobahn: 0 passed, 1 failed")
        return 1
    sel = selected_cases(os.path.join(a.out, "wstest.log"))
    ids = set(results) | set(sel or [])

    if a.update:
        cases = {}
        for cid in sorted(ids, key=key):
            r = results.get(cid, {"behavior": MISSING, "behaviorClose": MISSING})
            cases[cid] = [r["behavior"], r["behaviorClose"]]
        doc = {
            "_comment": "Autobahn|TestSuite baseline for wsloop: case -> [behavior, behaviorClose]. "
                        "tests/autobahn/conformance fails when a case ranks worse than this "
                        "(OK > NON-STRICT > INFORMATIONAL > UNIMPLEMENTED > the rest). "
                        "Regenerate with: " + a.update_cmd,
            "cases": cases,
        }
        tmp = a.expected + ".tmp"
        lines = ["{", '  "_comment": %s,' % json.dumps(doc["_comment"]), '  "cases": {']
        for i, cid in enumerate(sorted(cases, key=key)):
            lines.append("    %s: %s%s" % (json.dumps(cid), json.dumps(cases[cid]), "," if i + 1 < len(cases) else ""))
        lines += ["  }", "}"]
        text = "\n".join(lines) + "\n"
        json.loads(text)  # sanity
        with io.open(tmp, "w", encoding="utf-8") as f:
            f.write(text if isinstance(text, type(u"")) else text.decode("ascii"))
        os.rename(tmp, a.expected)
        counts = {}
        for b, c in cases.values():
            counts[b] = counts.get(b, 0) + 1
        print("autobahn: wrote %s: %d cases (behavior: %s)" % (
            a.expected, len(cases), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
        bad = [c for c, (b, bc) in cases.items() if b not in PASS_BEHAVIOR or bc not in PASS_CLOSE]
        if bad:
            print("autobahn: note: the baseline records %d failing case(s); the runner still fails on them: %s"
                  % (len(bad), " ".join(sorted(bad, key=key)[:20]) + (" ..." if len(bad) > 20 else "")))
        print("autobahn: %d passed, %d failed" % (len(cases) - len(bad), len(bad)))
        return 1 if bad else 0

    if not os.path.exists(a.expected):
        print("autobahn: no baseline %s -- nothing to compare against." % a.expected)
        print("autobahn: once the server passes, record one with:  %s  (and commit it)" % a.update_cmd)
        print("autobahn: 0 passed, 1 failed")
        return 1
    with io.open(a.expected, encoding="utf-8") as f:
        expected = json.load(f).get("cases", {})

    regressions, improvements, new, failing = [], [], [], []
    npass = 0
    for cid in sorted(ids, key=key):
        r = results.get(cid, {"behavior": MISSING, "behaviorClose": MISSING})
        b, bc = r["behavior"], r["behaviorClose"]
        ok = b in PASS_BEHAVIOR and bc in PASS_CLOSE
        e = expected.get(cid)
        worse = False
        if e is None:
            new.append((cid, b, bc))
        else:
            eb, ebc = e[0], e[1]
            if rank(b) > rank(eb) or rank(bc) > rank(ebc):
                worse = True
                regressions.append((cid, eb, ebc, b, bc))
            elif rank(b) < rank(eb) or rank(bc) < rank(ebc):
                improvements.append((cid, eb, ebc, b, bc))
        if not ok:
            failing.append((cid, b, bc))
        if ok and not worse:
            npass += 1
    nfail = len(ids) - npass

    if sel is None:
        print("autobahn: warning: could not read the case list from wstest.log; compared %d reported case(s)"
              % len(ids))

    fmt = "  %-8s %-15s %-15s -> %-15s %s"
    if regressions:
        print("autobahn: %d case(s) got WORSE than %s:" % (len(regressions), a.expected))
        print(fmt % ("case", "was behavior", "was close", "behavior", "close"))
        for cid, eb, ebc, b, bc in regressions:
            print(fmt % (cid, eb, ebc, b, bc))
    if failing:
        print("autobahn: %d case(s) fail the pass rule: %s" % (
            len(failing), " ".join(c for c, _, _ in failing[:40]) + (" ..." if len(failing) > 40 else "")))
    if improvements:
        print("autobahn: %d case(s) improved on the baseline (record with %s):" % (len(improvements), a.update_cmd))
        for cid, eb, ebc, b, bc in improvements[:40]:
            print(fmt % (cid, eb, ebc, b, bc))
    if new:
        print("autobahn: %d case(s) not in the baseline (record with %s): %s" % (
            len(new), a.update_cmd, " ".join(c for c, _, _ in new[:40])))
    print("autobahn: compared %d case(s) with the baseline: %d regression(s), %d failing"
          % (len(ids), len(regressions), len(failing)))
    if not ids:
        print("autobahn: no cases ran")
        nfail = 1
    for why in a.extra_failure:
        print("autobahn: FAILED: %s" % why)
        nfail += 1
    print("autobahn: %d passed, %d failed" % (npass, nfail))
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
