"""What the CLI prints after a conversion: sizes, what was removed, the signature with a JS snippet,
the weights' cost and the --verify report. Returns the exit status (3: --verify past the tolerance)."""

from __future__ import annotations

from converter import signature as sig_mod

EXIT_VERIFY_FAILED = 3


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _err(check: dict) -> str:
    if check.get("max_abs") is None:
        return check.get("error", "not run")
    return f"max abs {check['max_abs']:.3g}, max rel {check['max_rel']:.3g}"


def print_summary(args, job, result, graph, layers, seconds, out) -> int:
    p = lambda *a: print(*a, file=out)  # noqa: E731
    written = result["written"]
    p(f"{args.model}: {layers} layers -> {len(graph.nodes)} ops, weights {_size(graph.weight_bytes())}")
    for name, path in written:
        p(f"  {name}: {path} ({_size(path.stat().st_size)})")
    p(f"  bundles {_size(sum(path.stat().st_size for _, path in written))} in {seconds:.2f} s; with "
      f"{', '.join(path.name for path in result['web'])}, model.json (serve {args.out} for the demo page)")
    if result["removed"]:
        p(f"  removed from {args.out}, left by the previous conversion: {', '.join(result['removed'])}")
    _print_weights(job, p)
    for line in sig_mod.format_lines(result["signature"]):
        p(line)
    p("in JS:")
    for line in sig_mod.js_snippet(result["signature"], f"{args.out.as_posix().rstrip('/')}/"):
        p(f"  {line}")
    for note in job.notes:
        p(f"note: {note}")
    return _print_verify(job, p)


def _print_weights(job, p) -> None:
    cost = job.report.get("weights_report")
    if not cost:
        return
    for name, entry in cost["backends"].items():
        measured = entry.get("browser") or entry.get("node")
        where = "in the browser" if "browser" in entry else "in Node"
        text = (f"accuracy cost vs float32 ({where}): {_err(measured)}" if measured
                else "accuracy cost not measured (needs node for wasm, --verify with Chromium for the GPU "
                     "backends)")
        p(f"  {job.weights} weights, {name}: {_size(entry['bytes_float32'])} -> {_size(entry['bytes'])} "
          f"({entry['bytes_float32'] / max(entry['bytes'], 1):.1f}x smaller); {text}")


def _print_verify(job, p) -> int:
    report = job.report.get("verify")
    if report is None:
        return 0
    failed = []
    p(f"verify against {report['reference']} (tolerance {report['tolerance']:g} abs+rel, "
      f"{report['weights']} weights):")
    for name, checks in report["backends"].items():
        for where in ("node", "browser"):
            if where in checks:
                ok = checks[where].get("ok")
                p(f"  {name} ({where}): {_err(checks[where])} {'ok' if ok else 'FAILED'}")
                if not ok:
                    failed.append(f"{name} ({where})")
        if "skipped" in checks:
            p(f"  {name}: not run ({checks['skipped']})")
    if failed:
        p(f"verify FAILED for {', '.join(failed)} (the bundles are in the folder for inspection)")
        return EXIT_VERIFY_FAILED
    return 0
