"""Runs the caller cannot see: a spin finds its base run in the caller's Metaflow namespace
(`user:<name>`, as `metaflow spin` does), so "no run of WordFlow" while `flowspin runs` lists
one means the runs belong to someone else. Saying whose, and how to reach them, turns a dead
end into a one-flag fix.

`other_runs_hint(flow_name)` needs Metaflow configured for the caller (it runs where the
caller's environment is: the worker, or `python -m flowspin.spin.namespaces FLOW` started with
that environment, which prints the hint or nothing).
"""

from __future__ import annotations

import sys

SCAN_LIMIT = 1000  # runs looked at, newest first: enough to name the owners, bounded in time


def runs_by_namespace(flow_name: str, limit: int = SCAN_LIMIT) -> dict[str, list[str]]:
    """Run ids of `flow_name` in every namespace, newest first, grouped by their `user:` tag
    (runs without one, e.g. production runs, under their other system tags' first, or "")."""
    import metaflow.client.core as core
    from metaflow import Flow, namespace
    from metaflow.exception import MetaflowNotFound

    saved = core.current_namespace  # restored exactly: False means "not resolved yet"
    namespace(None)
    try:
        try:
            runs = iter(Flow(flow_name))
        except MetaflowNotFound:
            return {}
        out: dict[str, list[str]] = {}
        for i, run in enumerate(runs):
            if i >= limit:
                break
            tags = sorted(run.system_tags)
            users = [t for t in tags if t.startswith("user:")] or [""]
            for user in users:
                out.setdefault(user, []).append(run.id)
        return out
    finally:
        core.current_namespace = saved


def caller_namespace() -> str | None:
    """The namespace a default Client lookup uses here (`user:erin`), None if Metaflow cannot
    tell who the user is."""
    from metaflow import get_namespace

    try:
        return get_namespace()
    except Exception:
        return None


def other_runs_hint(flow_name: str) -> str | None:
    """A replacement for "no run of FLOW in the Metaflow datastore" when runs exist under
    other users: whose, how many, the newest id, and the two ways to use them. None when
    there are none (the flow really never ran here)."""
    mine = caller_namespace()
    groups = {ns: ids for ns, ids in runs_by_namespace(flow_name).items() if ns != mine}
    if not groups:
        return None
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    owners = ", ".join(
        f"{len(ids)} run{'s' if len(ids) != 1 else ''} under {ns or 'no user tag'}"
        for ns, ids in ranked
    )
    top_ns, top_ids = ranked[0]
    fix = f"pass --run {top_ids[0]}"
    if top_ns.startswith("user:"):
        fix += f" or set METAFLOW_USER={top_ns[len('user:') :]}"
    you = f"you are {mine}" if mine else "Metaflow cannot tell who you are"
    return f"no run of {flow_name} in your namespace; {owners}; {you}; {fix}"


def main(argv: list[str] | None = None) -> int:
    """`python -m flowspin.spin.namespaces FLOW_NAME`: the hint on stdout, or nothing."""
    args = sys.argv[1:] if argv is None else argv
    hint = other_runs_hint(args[0])
    if hint:
        sys.stdout.write(hint + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
