"""CLI: ``study create|run|resume|show|list``: choose a model across many configurations.

A study is recorded with ``create`` (a ready-made study with ``--preset``, changed by ``--set``
on its base configuration and by the options below), trained with ``run`` (``run --preset``
creates and runs in one go) or continued after an interruption with ``resume``; ``show`` prints
the leaderboard, the choice and its estimate (``--json``: the same document ``run`` prints).
Studies are named ``study:N`` (or by name) in every study command. ``run`` and ``resume`` train
the folds in this process (``--executor local``, the default) or as Ray tasks (``--executor ray
[--address HOST:PORT]``, ``--parallel-trials N`` trials at once); the choice is remembered, so a
plain ``resume`` continues where the study ran.
Exit codes: 0 done, 2 bad input, 3 stopped before the budget was spent.
"""

from __future__ import annotations

import json

from glaucoma_core.commands.common import echo_for, positive_int, workbench
from glaucoma_core.commands.formatting import jsonable, num, p_value
from glaucoma_core.errors import UserError

EXIT_UNFINISHED = 3


def register(subparsers) -> None:
    """Add the study command and its subcommands."""
    from glaucoma_core.studies.presets import study_preset_names

    p = subparsers.add_parser("study", help="choose a model across many configurations (Optuna study)",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="study_command", metavar="SUBCOMMAND")

    def definition_options(q) -> None:
        q.add_argument("--preset", required=True, choices=study_preset_names(), help="a ready-made study")
        q.add_argument("--name", help="the study's name (default: preset and date)")
        q.add_argument("--data", help="dataset folder in the fold layout (default: the demo dataset)")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="change the base configuration (repeatable), e.g. --set weights=/path/file.h5")
        q.add_argument("--space", metavar="JSON",
                       help='replace the search space, e.g. \'{"learning_rate": {"low": 1e-4, "high": 1e-2, '
                            '"log": true}, "head_dense_units": [0, 64]}\'')
        q.add_argument("--folds", help="comma-separated fold numbers (default: the preset's, else all)")
        q.add_argument("--trials", type=positive_int, help="how many configurations to try")
        q.add_argument("--sampler", choices=("tpe", "random", "grid"), help="how configurations are proposed")
        q.add_argument("--pruner", choices=("median", "none"), help="stop trials early across folds")
        q.add_argument("--prune-warmup-folds", type=positive_int, metavar="K",
                       help="no trial is pruned before K folds (default: half its folds, rounded up)")
        q.add_argument("--prune-min-trials", type=positive_int, metavar="N",
                       help="nothing is pruned before N trials completed (default 3)")
        q.add_argument("--metric", choices=("auc", "sens_at_spec95", "sens_at_spec85", "average_precision"),
                       help="selection metric (mean over folds, validation images only)")
        q.add_argument("--seed", type=int, help="sampler seed")
        q.add_argument("--screen-folds", type=positive_int, metavar="K",
                       help="screen every trial on the first K folds, then run the --top best on all")
        q.add_argument("--top", type=positive_int, help="trials that go on from screening (default 3)")
        q.add_argument("--nested", action="store_true",
                       help="report the nested cross-validation estimate of the whole procedure")
        q.add_argument("--json", action="store_true", help="print the result as JSON")

    def executor_options(q) -> None:
        q.add_argument("--executor", choices=("local", "ray"),
                       help="where folds are trained: local (this process, one at a time) or ray "
                            "(default: the study's last, else local)")
        q.add_argument("--address", help="Ray cluster address (ray.init(address=...)); default: a local Ray")
        q.add_argument("--parallel-trials", type=positive_int, metavar="N",
                       help="on Ray, trials in flight at once (default 4)")

    q = sub.add_parser("create", help="record a study (train it with `study resume STUDY`)")
    definition_options(q)
    q.set_defaults(func=cmd_create)

    q = sub.add_parser("run", help="run a study: --preset creates one and runs it; STUDY runs a recorded one")
    q.add_argument("study", nargs="?", metavar="STUDY", help="a recorded study (study:N or its name)")
    definition_options(q)
    executor_options(q)
    q.set_defaults(func=cmd_run)
    for action in q._actions:  # --preset is needed only without STUDY
        if action.dest == "preset":
            action.required = False

    q = sub.add_parser("resume", help="continue an interrupted study (finished trials and folds are kept)")
    q.add_argument("study", metavar="STUDY", help="study:N or its name")
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    executor_options(q)
    q.set_defaults(func=cmd_resume)

    q = sub.add_parser("show", help="a study's leaderboard, choice and estimate")
    q.add_argument("study", metavar="STUDY", help="study:N or its name")
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    q.set_defaults(func=cmd_show)

    q = sub.add_parser("list", help="the studies of this home")
    q.add_argument("--json", action="store_true", help="print the list as JSON")
    q.set_defaults(func=cmd_list)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# ---------------------------------------------------------------- commands


def definition_from_args(args):
    """The StudyDefinition that the definition options give."""
    from glaucoma_core.commands.train_commands import _parse_folds
    from glaucoma_core.studies.presets import study_from_preset

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set needs KEY=VALUE, not {item!r}")
        overrides[key.strip()] = value
    space = None
    if args.space:
        try:
            space = json.loads(args.space)
        except json.JSONDecodeError as exc:
            raise UserError(f"--space is not valid JSON: {exc}") from None
    return study_from_preset(
        args.preset, overrides=overrides, space=space, folds=_parse_folds(args.folds), n_trials=args.trials,
        sampler=args.sampler, pruner=args.pruner, prune_warmup_folds=args.prune_warmup_folds,
        prune_min_trials=args.prune_min_trials, metric=args.metric, seed=args.seed,
        screen_folds=args.screen_folds, top=args.top, nested=True if args.nested else None, data_root=args.data)


def cmd_create(args) -> int:
    bench = workbench(args)
    study_id = bench.create_study(definition_from_args(args), args.name)
    report = bench.study_report(study_id)
    _print(args, report, f"{report['study']} ({report['name']}) recorded; run it with "
                         f"`python -m glaucoma_core study resume {report['study']}`")
    return 0


def cmd_run(args) -> int:
    bench = workbench(args)
    if args.study:
        if args.preset or args.set or args.space:
            raise UserError("STUDY runs a recorded study with its own definition; drop --preset/--set/--space")
        reference = args.study
    else:
        if not args.preset:
            raise UserError("give a recorded STUDY or --preset NAME")
        reference = bench.create_study(definition_from_args(args), args.name)
        echo_for(args)(f"study:{reference} recorded")
    return _run(args, bench, reference)


def cmd_resume(args) -> int:
    return _run(args, workbench(args), args.study)


def _run(args, bench, reference) -> int:
    if args.address and args.executor == "local":
        raise UserError("--address is for --executor ray")
    executor = args.executor or ("ray" if args.address else None)
    report = bench.run_study(reference, executor=executor, address=args.address,
                             parallel_trials=args.parallel_trials, echo=echo_for(args))
    _print(args, report, study_text(report))
    return 0 if report["status"] == "finished" else EXIT_UNFINISHED


def cmd_show(args) -> int:
    report = workbench(args).study_report(args.study)
    _print(args, report, study_text(report))
    return 0


def cmd_list(args) -> int:
    bench = workbench(args)
    studies = bench.studies()
    if args.json:
        print(json.dumps(jsonable(studies), indent=2))
        return 0
    if not studies:
        print(f"no studies in {bench.home}")
        return 0
    print(f"{'study':<10} {'status':<10} {'trials':>9} {'pruned':>6} {'best':>7}  name")
    for s in studies:
        print(f"{s['study']:<10} {s['status']:<10} {s['trials']:>4}/{s['n_trials']:<4} {s['pruned']:>6} "
              f"{num(s['best_value']):>7}  {s['name']}")
    return 0


# ---------------------------------------------------------------- text


def _print(args, report: dict, text: str) -> None:
    print(json.dumps(jsonable(report), indent=2) if args.json else text)


def study_text(report: dict) -> str:
    """The readable leaderboard of a study report."""
    metric = report["rule"]["metric"]
    lines = [f"{report['study']} ({report['name']}): {report['status']}; selection: {report['rule']['text']}"]
    lines.append(f"{'trial':>5} {'status':<10} {'valid ' + metric:>22} {'test ' + metric:>22} "
                 f"{'p NB':>7} {'p DeLong':>8}  experiment  params")
    for t in report["trials"]:  # the selected trial, then those that ran every fold, best first
        v, s = t["valid"][metric], t["test"][metric]
        p = t["p_vs_leader"] or {}
        mark = "*" if t["id"] == report["selected"] else " "
        lines.append(f"{mark}{t['id']:>4} {t['status']:<10} {_ms(v):>22} {_ms(s):>22} "
                     f"{p_value(p.get('nadeau_bengio')) if p else 'leader' if mark == '*' else '-':>7} "
                     f"{p_value(p.get('delong')) if p else '':>8}  {t['experiment'] or '-':<10}  "
                     + ", ".join(f"{k}={num(v, 4)}" for k, v in t["params"].items()))
    if report["selected"] is not None:
        e = report["estimate"]
        lines.append(f"selected: trial {report['selected']}; {report['indistinguishable_text']}")
        lines.append(f"estimate ({e['kind']}): test {metric} {_ms(e)}; {e['text']}")
        if e["kind"] != "nested_cv" and report["nested"]["test"]["mean"] is not None:
            lines.append(f"nested cross-validation estimate: test {metric} {_ms(report['nested']['test'])}")
    else:
        lines.append("no trial has finished every fold yet")
    return "\n".join(lines)


def _ms(s: dict) -> str:
    if not s or s.get("mean") is None:
        return "-"
    ci = s.get("ci95") or [None, None]
    text = f"{s['mean']:.3f}"
    if s.get("std") is not None:
        text += f" ± {s['std']:.3f}"
    if ci[0] is not None:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return text
