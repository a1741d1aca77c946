#!/usr/bin/env python3
"""The schema and the saved queries on a current ClickHouse engine (chDB).

chdb-core embeds a current ClickHouse release in-process (no server). This
script takes a database a ClickHouse server already holds (the local 18.16
server, filled by the real pipeline) and checks that a current release
builds the same schema and gives the same answers:

  modern_check.py version
      print the embedded engine's version (what `voc schema print
      --server-version` is given, so voc picks the variants a server of that
      version gets from `voc schema migrate`).

  modern_check.py check --ddl FILE --url URL --database DB --queries DIR
      1. run every statement of FILE (`voc schema print` output) on chDB, in
         order: any error fails, naming its migration;
      2. copy the rows of every table the pipeline writes (not the targets of
         materialized views: chDB's own views fill those from the copied
         feedback_events, as the server's did) from the server to chDB, and
         compare every view target's contents (aggregate states merged);
      3. run every DIR/*.sql (one query each, placeholders already filled)
         on both and compare the answers cell by cell: strings exactly,
         numbers to 1e-9 relative, rows in order. The only allowed
         difference is ROUND_TIE below, and the report counts it.

Exit status 0 when everything ran and matched; the report goes to stdout.
"""

import argparse
import math
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request

# Both engines must read and print DateTime text in the same zone.
os.environ.setdefault("TZ", "UTC")

# The one difference allowed, and only in a query that calls round(): a
# value exactly halfway between two roundings (e.g. round(-61.25, 1)) is
# rounded away from zero by 18.16 and to the even digit by current releases
# (banker's rounding of floats), so the two answers differ by one unit in the
# last printed digit. Such cells are counted in the report, never hidden.
ROUND_TIE = "round() of an exact tie: half away from zero on 18.16, half to even now"


def engine():
    from chdb import session  # imported late: `version` must fail clearly without chdb

    return session


def server(url, sql, fmt="TabSeparated"):
    req = urllib.request.Request(
        url.rstrip("/") + "/?" + urllib.parse.urlencode({"default_format": fmt}),
        data=sql.encode(),
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        raise RuntimeError(e.read().decode(errors="replace").strip()) from None


def statements(ddl):
    """(migration label, SQL) from `voc schema print`: each statement follows a
    line `-- NNN_name (variant)` and ends with `;` (its own comments stay in)."""
    out = []
    parts = re.split(r"^-- (\d{3}_\w+(?: \([^)]*\))?)$", ddl, flags=re.M)
    for label, sql in zip(parts[1::2], parts[2::2]):
        sql = sql.strip().rstrip(";").strip()
        if sql:
            out.append((label, sql))
    return out


def mv_targets(ddl, db):
    return set(re.findall(r"MATERIALIZED VIEW .*? TO " + re.escape(db) + r"\.(\w+)", ddl))


def rows(tsv):
    return [line.split("\t") for line in tsv.splitlines()]


def number(cell):
    try:
        return float(cell)
    except ValueError:
        return None


def same_cell(a, b):
    if a == b:
        return True
    x, y = number(a), number(b)
    if x is None or y is None:
        return False
    if math.isnan(x) and math.isnan(y):
        return True
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def round_tie(a, b):
    """Both printed with the same d > 0 decimals, one unit of the last apart."""
    da, db = a.partition(".")[2], b.partition(".")[2]
    x, y = number(a), number(b)
    if x is None or y is None or not da or len(da) != len(db):
        return False
    return math.isclose(abs(x - y), 10 ** -len(da), rel_tol=1e-6)


def compare(old, new, rounds):
    """(None when equal else what differs first, cells allowed as round() ties)."""
    if len(old) != len(new):
        return f"{len(old)} rows on the server, {len(new)} on chDB", 0
    ties = 0
    for i, (a, b) in enumerate(zip(old, new)):
        if len(a) != len(b):
            return f"row {i + 1}: server {a!r}, chDB {b!r}", ties
        for x, y in zip(a, b):
            if same_cell(x, y):
                continue
            if rounds and round_tie(x, y):
                ties += 1
                continue
            return f"row {i + 1}: server {a!r}, chDB {b!r}", ties
    return None, ties


def columns(url, db, table):
    return rows(
        server(
            url,
            f"SELECT name, type FROM system.columns WHERE database = '{db}' "
            # In table order (18.16 has no `position` column to sort by).
            f"AND table = '{table}' AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')",
        )
    )


def view_contents_sql(db, table, cols):
    """The whole content of a materialized view's target, engine-neutral:
    aggregate states merged per key, other tables' distinct rows, sorted."""
    keys = [f"`{n}`" for n, t in cols if not t.startswith("AggregateFunction(")]
    merged = [
        re.match(r"AggregateFunction\((\w+)", t).group(1) + f"Merge(`{n}`)"
        for n, t in cols
        if t.startswith("AggregateFunction(")
    ]
    order = ", ".join(keys)
    if merged:
        return (
            f"SELECT {', '.join(keys + merged)} FROM {db}.{table} "
            f"GROUP BY {order} ORDER BY {order}"
        )
    return f"SELECT DISTINCT {order} FROM {db}.{table} ORDER BY {order}"


def copy_tables(s, url, db, skip):
    listing = server(
        url,
        f"SELECT name FROM system.tables WHERE database = '{db}' "
        "AND engine LIKE '%MergeTree' AND name NOT LIKE '.inner%' ORDER BY name",
    )
    copied = {}
    work = tempfile.mkdtemp(prefix="voc-modern-copy-")
    try:
        # The events last: their materialized views look up the taxonomy,
        # which must be there first (as `voc schema migrate` loads it first).
        tables = [t for t in listing.split() if t not in skip]
        tables.sort(key=lambda t: t == "feedback_events")
        for table in tables:
            cols = columns(url, db, table)
            names = ", ".join(f"`{n}`" for n, _ in cols)
            structure = ", ".join(f"`{n}` {t}" for n, t in cols)
            path = os.path.join(work, f"{table}.tsv")
            with open(path, "w", encoding="utf-8") as f:
                f.write(server(url, f"SELECT {names} FROM {db}.{table}"))
            s.query(
                f"INSERT INTO {db}.{table} ({names}) "
                f"SELECT * FROM file('{path}', 'TabSeparated', '{structure}') "
                # Keep the rows as the server holds them: current releases
                # collapse duplicates of a Replacing/Aggregating table at
                # insert, 18.16 only when parts merge.
                "SETTINGS optimize_on_insert = 0"
            )
            copied[table] = int(server(url, f"SELECT count() FROM {db}.{table}"))
            got = int(s.query(f"SELECT count() FROM {db}.{table}", "TSV").bytes().decode())
            if got != copied[table]:
                raise RuntimeError(f"{table}: {copied[table]} rows on the server, {got} copied")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return copied


def check(args):
    session = engine()
    ddl = open(args.ddl, encoding="utf-8").read()
    path = tempfile.mkdtemp(prefix="voc-modern-chdb-")
    failures = []
    try:
        s = session.Session(path)
        version = s.query("SELECT version()", "TSV").bytes().decode().strip()
        print(f"chDB engine: ClickHouse {version}")
        print(f"server: ClickHouse {server(args.url, 'SELECT version()').strip()}")
        stmts = statements(ddl)
        for label, sql in stmts:
            try:
                s.query(sql)
            except Exception as e:  # noqa: BLE001: chDB raises its own error types
                failures.append(f"migration {label}: {e}\n  {sql[:300]}")
        print(f"migrations: {len(stmts)} statements run", flush=True)
        if failures:
            return failures
        copied = copy_tables(s, args.url, args.database, mv_targets(ddl, args.database))
        print("copied: " + ", ".join(f"{t} {n}" for t, n in sorted(copied.items())))
        # What chDB's materialized views made of the copied rows equals
        # what the server's made of the same rows when they were inserted.
        for table in sorted(mv_targets(ddl, args.database)):
            sql = view_contents_sql(args.database, table, columns(args.url, args.database, table))
            old = rows(server(args.url, sql))
            new = rows(s.query(sql, "TSV").bytes().decode())
            diff, _ = compare(old, new, False)
            if diff:
                failures.append(f"view target {table}: different contents: {diff}")
            elif not old:
                failures.append(f"view target {table}: empty on the server")
            else:
                print(f"view target {table}: same {len(old)} rows")
        files = sorted(f for f in os.listdir(args.queries) if f.endswith(".sql"))
        for name in files:
            sql = open(os.path.join(args.queries, name), encoding="utf-8").read().strip().rstrip(";")
            try:
                old = rows(server(args.url, sql))
            except RuntimeError as e:
                failures.append(f"{name}: fails on the server: {e}")
                continue
            try:
                new = rows(s.query(sql, "TSV").bytes().decode())
            except Exception as e:  # noqa: BLE001
                failures.append(f"{name}: fails on chDB: {e}")
                continue
            diff, ties = compare(old, new, "round(" in sql)
            if diff:
                failures.append(f"{name}: different answers: {diff}")
            else:
                tie_note = f" ({ties} cells: {ROUND_TIE})" if ties else ""
                print(f"{name}: same {len(old)} rows{tie_note}")
        print(f"queries: {len(files)} compared")
        s.close()
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return failures


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("version", help="the embedded engine's ClickHouse version")
    c = sub.add_parser("check", help="schema, rows and saved queries: server vs chDB")
    c.add_argument("--ddl", required=True, help="`voc schema print --server-version VERSION` output")
    c.add_argument("--url", required=True, help="the ClickHouse server's HTTP URL")
    c.add_argument("--database", required=True)
    c.add_argument("--queries", required=True, help="folder of *.sql, placeholders filled")
    args = p.parse_args()
    if args.cmd == "version":
        s = engine().Session()
        print(s.query("SELECT version()", "TSV").bytes().decode().strip())
        s.close()
        return 0
    failures = check(args)
    for f in failures:
        print("FAIL " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
