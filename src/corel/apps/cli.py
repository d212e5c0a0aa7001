"""Connectivity-optimized representation learning (COREL): persistent homology, training, novelty detection.

(For developers: this module parses and calls; the work is in the modules each command imports.)

Building the parser imports neither torch nor Lightning (``corel.training.config`` is torch-free and the
other subcommands' defaults and choices are plain constants here): ``corel --help`` and argument
errors are instant. Each command imports its modules when it runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from pathlib import Path

from ..scoring.views import TTA_MODES

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """An argument error is one line on stderr (exit status 2), naming the help to read."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _add_config_flags(parser: argparse.ArgumentParser, config_cls) -> None:
    """One flag per config field, with its help and default; only flags given override YAML."""
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        help_text = f"{f.metadata.get('help', '')} (default: {default})"
        hint = hints[f.name]
        if hint is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
        elif typing.get_origin(hint) is list:
            parser.add_argument(flag, dest=f.name, type=_int_list, default=argparse.SUPPRESS,
                                metavar="A,B,...", help=help_text)
        else:
            base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
            parser.add_argument(flag, dest=f.name, type=base, default=argparse.SUPPRESS, help=help_text)


# ----------------------------------------------------------------------------- options every job shares
def _add_threads(p) -> None:
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")


def _add_device(p) -> None:
    p.add_argument("--device", default=None, help="where encoding and scoring run: cpu, cuda, cuda:1 (default: cpu)")


def _add_progress(p) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress bars (shown on a terminal only)")


def _add_out_dir(p, default: str, what: str) -> None:
    p.add_argument("--out-dir", default=default, help=f"output folder: {what}")


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 32,64,128; got {text!r}") from None


def _read_yaml(path: str | None) -> dict:
    if path is None:
        return {}
    import yaml
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Config file {p} does not exist.")
    try:
        values = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"Config file {p} is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ValueError(f"Config file {p} must hold a mapping of keys to values; got {type(values).__name__}.")
    return values


def _config_from(args: argparse.Namespace, config_cls, skip: set[str]):
    values = _read_yaml(args.config)
    values.update({k: v for k, v in vars(args).items() if k not in skip})
    return config_cls.from_dict(values)


# ----------------------------------------------------------------------------- commands
def _cmd_train(args) -> int:
    from ..training.config import TrainConfig
    from ..training.engine import train
    cfg = _config_from(args, TrainConfig, skip={"command", "config", "resume", "func", "report"})
    final = train(cfg, resume=args.resume)
    from ..training.distributed import is_rank_zero
    if is_rank_zero():  # under DDP every rank returns here; one prints and writes the report
        print(f"model written to {final}")
        _maybe_report(args, cfg.out_dir)
    return 0


def _int_tuple(text: str):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 80,120,500; got {text!r}") from None


def _print_summaries(summaries, out_dir) -> None:
    from ..protocols.jobs import format_table
    print(format_table(summaries))
    print(f"\nper-class tables, summary.json and plots under {out_dir}")


def _set_threads(threads: int) -> None:
    if threads > 0:
        import torch
        torch.set_num_threads(threads)


def _cmd_evaluate(args) -> int:
    _check_eval_args(args)
    from ..protocols.jobs import EvalSpec, evaluate_checkpoint
    _set_threads(args.threads)
    from ..scoring.scorer import parse_scorer
    if args.reference_count is not None:
        print(f"corel evaluate: note: --reference {args.reference_count} is spelled --pool-size "
              f"{args.reference_count} now (--reference is a folder of images in `corel score`).", file=sys.stderr)
        args.pool_size = args.reference_count
    scorer = parse_scorer(args.scorer, args.radius, args.radius_quantile, args.k, args.aggregate, args.pool_size,
                          args.pool_rule)
    spec = EvalSpec(dataset=args.dataset, data_root=args.data_root, ns=args.n, draws=args.draws,
                    radius=2.0 if args.radius == "auto" else args.radius, seed=args.seed,
                    batch_size=args.batch_size, device=args.device, progress=args.progress, protocol=args.protocol,
                    scorer=None if scorer.is_paper and scorer.aggregate == "sum" else scorer, tta=args.tta,
                    novelty=args.novelty, rotations=args.rotations)
    args.checkpoint = [_model_file(c) for c in args.checkpoint]
    if args.novelty == "never-trained":
        from ..protocols.jobs import evaluate_never_trained
        summaries = evaluate_never_trained(args.checkpoint, spec, args.out_dir, halves=args.halves,
                                           cache_dir=args.codes_cache)
    else:
        if len(args.checkpoint) != 1:
            raise ValueError(f"Give one model (got {len(args.checkpoint)}); two models are for --novelty never-trained.")
        summaries = evaluate_checkpoint(args.checkpoint[0], spec, args.out_dir, cache_dir=args.codes_cache)
    _print_summaries(summaries, args.out_dir)
    _maybe_report(args, args.out_dir)
    return 0


def _check_eval_args(args) -> None:
    if args.draws < 1:
        raise ValueError(f"--draws must be >= 1; got {args.draws}.")
    if not args.n or min(args.n) < 1:
        raise ValueError(f"--n must list integers >= 1; got {args.n}.")


def _cmd_reproduce(args) -> int:
    _check_eval_args(args)
    from ..protocols.jobs import reproduce
    summaries = reproduce(args.setting, "quick" if args.quick else "full", args.out_dir, data_root=args.data_root,
                          checkpoint=args.checkpoint, lam=args.lam, ns=args.n, draws=args.draws, seed=args.seed,
                          threads=args.threads, progress=args.progress)
    _print_summaries(summaries, args.out_dir)
    return 0


def _cmd_demo(args) -> int:
    _set_threads(args.threads)
    if args.digits:
        from ..protocols.jobs import demo, format_demo_table
        summaries = demo(args.out_dir, epochs=args.epochs, seed=args.seed, threads=args.threads,
                         progress=args.progress)
        print(format_demo_table(summaries))
        print(f"\nper-class tables, summary.json and plots under {args.out_dir}")
        return 0
    from .demo import format_demo, run_demo
    if args.progress:
        print("scoring the CIFAR-10 sample that ships with corel (test split, 150 images per class):")
    result = run_demo(args.out_dir, report_class=args.report_class, seed=args.seed, progress=args.progress)
    print(format_demo(result))
    print(f"\ndemo.md and demo.json under {args.out_dir} ({result['seconds']:.0f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ..training.config import TrainConfig
    parser = _Parser(prog="corel", description=__doc__.splitlines()[0] if __doc__ else None,
                     epilog="Start with `corel models` and `corel score`; `corel COMMAND --help` for each command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_score_and_report_commands(sub)       # the main jobs first: score a user's images with a shipped model

    p = sub.add_parser("train", help="train a COREL autoencoder",
                       description="Train a COREL autoencoder with PyTorch Lightning. Options come from "
                                   "--config (YAML, same keys as the flags) and then from the flags.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=None, help="YAML file of options (keys as the flags, with underscores)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue from out_dir/checkpoints/last.ckpt when it exists")
    _add_config_flags(p, TrainConfig)
    _add_report_flag(p, "out_dir/report.html")
    p.set_defaults(func=_cmd_train)

    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser("evaluate", help="one-class novelty detection with a trained model (the paper's protocol)",
                       formatter_class=fmt,
                       description="For each class: draw n inliers from its training split, score the whole test "
                                   "split by counting inliers within the l1 ball of each branch, AUROC one vs rest; "
                                   "repeated for several draws.")
    p.add_argument("checkpoint", nargs="+",
                   help="model.pt or a Lightning .ckpt written by `corel train`; with --novelty never-trained, "
                        "the two models trained on complementary halves of the classes (--train-classes)")
    p.add_argument("--dataset", default="cifar10-jpeg", help="evaluation set (a corel.data name)")
    p.add_argument("--data-root", default=None, help="its folder or file")
    _add_protocol_flags(p)
    _add_scorer_flags(p)
    p.add_argument("--pool-size", type=int, default=0, metavar="M",
                   help="with a knn scorer: divide each branch's distance to the inliers by the distance to a pool "
                        "of M unlabelled training images (drawn once, labels unused), a density ratio; 0: off. It "
                        "helps only against kinds of images the pool holds: see --novelty pool-without")
    p.add_argument("--reference", dest="reference_count", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--novelty", choices=["standard", "pool-without", "never-trained"], default="standard",
                   help="standard: each class against all others (the paper); pool-without: against classes the "
                        "reference pool never holds (--rotations sets per class); never-trained: against the classes "
                        "the encoder never trained on (two half-class models). Labels only build these splits")
    p.add_argument("--rotations", type=int, default=3, help="pool-without: left-out class sets per class")
    p.add_argument("--halves", default=None, metavar="FILE",
                   help="never-trained: a file 'A: class, ...' / 'B: class, ...' that the two models' "
                        "--train-classes must match")
    _add_tta_flag(p)
    p.add_argument("--batch-size", type=int, default=1000, help="images per encoder call")
    p.add_argument("--protocol", choices=["test", "validation"], default="test",
                   help="test: the paper's (the test split scored); validation: the model's --holdout images "
                        "scored, inliers from the rest of the training split")
    _add_device(p)
    _add_threads(p)
    _add_progress(p)
    _add_out_dir(p, "runs/evaluate", "where tables, summary.json and plots go")
    p.add_argument("--codes-cache", default=None, metavar="DIR",
                   help="folder of cached codes, keyed by each model's content digest, so one folder can serve "
                        "many evaluations (a stack reuses its parts' codes there) (default: OUT_DIR/codes)")
    _add_report_flag(p, "out_dir/report.html")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("reproduce", help="train (or load) and evaluate a setting of the paper, beside its numbers",
                       formatter_class=fmt)
    p.add_argument("setting", help="cifar10 (the JPEG copy), cifar10-pickle, cifar100-on-cifar10")
    p.add_argument("--quick", action="store_true", help="a few hundred steps and 2 draws: minutes on a CPU")
    p.add_argument("--checkpoint", default=None, help="skip training and evaluate this model")
    p.add_argument("--data-root", default=None, help="folder of the training (and evaluation) data")
    p.add_argument("--lam", type=float, default=20.0, help="connectivity weight lambda (0: plain autoencoder)")
    _add_threads(p)
    _add_protocol_flags(p)
    _add_progress(p)
    _add_out_dir(p, "runs/reproduce", "output folder")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("demo", help="the quick start: one-class novelty on CIFAR-10 images shipped with corel, "
                                    "raw pixels and the paper beside corel's best (about a minute)",
                       formatter_class=fmt)
    p.add_argument("--report-class", default="ship", help="the class `corel score` is shown on (with its report)")
    p.add_argument("--digits", action="store_true",
                   help="instead: train the paper's autoencoder with and without the connectivity loss on "
                        "scikit-learn's digits and compare their radii (minutes)")
    p.add_argument("--epochs", type=int, default=30, help="with --digits: training epochs per model")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (and of training, with --digits)")
    _add_threads(p)
    _add_progress(p)
    _add_out_dir(p, "runs/demo", "output folder")
    p.set_defaults(func=_cmd_demo)
    _add_theory_commands(sub)
    _add_loop_command(sub)
    _add_stack_command(sub)
    _add_compare_command(sub)
    _add_large_command(sub)
    parser.commands = sub.choices  # name -> its parser (main() reports stray flags with the subcommand's)
    return parser


# ----------------------------------------------------------------------------- toy, guide, ablate
def _cmd_toy(args) -> int:
    from .toy import format_toy_report, run_toy, write_toy_numbers
    res = run_toy(args.out_dir, seed=args.seed, epochs=args.epochs, threads=args.threads)
    write_toy_numbers(res, args.out_dir)
    print(format_toy_report(res))
    print(f"\nfigures and numbers.json under {args.out_dir}")
    return 0


def _cmd_guide(args) -> int:
    from .theory import write_guide
    text, paths = write_guide(args.out_dir, range(args.d_min, args.d_max + 1), args.alpha, args.beta,
                              args.batch_size, args.n_codes)
    print(text)
    print(f"\nplot written to {paths['plot']}")
    return 0


def _cmd_ablate(args) -> int:
    from ..protocols.ablate import spec_from_args, run_ablation
    spec, sweeps = spec_from_args(args, _read_yaml(args.config))
    print(run_ablation(spec, args.out_dir, sweeps, args.checkpoint)["tables"])
    return 0


def _add_theory_commands(sub) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser("toy", help="the three-blob toy: connectivity loss alone, KDE before / after",
                       formatter_class=fmt)
    p.add_argument("--epochs", type=int, default=50, help="training epochs (the paper: 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the blobs, the weights and the batches")
    _add_threads(p)
    _add_out_dir(p, "runs/toy", "where the PNGs and numbers.json go")
    p.set_defaults(func=_cmd_toy)

    p = sub.add_parser("guide", help="the batch-size / dimension guideline from the packing bound",
                       formatter_class=fmt)
    p.add_argument("--alpha", type=float, default=2.0, help="smallest death time aimed at")
    p.add_argument("--beta", type=float, default=2.0, help="largest death time aimed at")
    p.add_argument("--batch-size", type=int, default=100, help="batch size b")
    p.add_argument("--n-codes", type=int, default=50_000, help="number of codes N the batches come from")
    p.add_argument("--d-min", type=int, default=1, help="smallest dimension")
    p.add_argument("--d-max", type=int, default=20, help="largest dimension")
    _add_out_dir(p, "runs/guide", "where guide.md and guide.png go")
    p.set_defaults(func=_cmd_guide)

    p = sub.add_parser("ablate", help="the paper's ablations: lambda x branches, radius, sample size (resumable)",
                       formatter_class=fmt)
    p.add_argument("--sweeps", default="lambda,radius,samples", help="which sweeps, comma-separated")
    p.add_argument("--dataset", default="cifar100", help="autoencoder training set (paper: cifar100)")
    p.add_argument("--data-root", default=None, help="its folder or file")
    p.add_argument("--eval-dataset", default="cifar10", help="one-class evaluation set (paper: cifar10)")
    p.add_argument("--eval-root", default=None, help="its folder or file")
    p.add_argument("--epochs", type=int, default=50, help="training epochs per cell")
    p.add_argument("--quick", action="store_true", help="a few steps per cell and 2 draws (a smoke run)")
    p.add_argument("--grid", choices=["published", "full"], default="published",
                   help="branches x dims rows: the paper's five, or {32,16,8}x{20,10,5} plus 1x160")
    p.add_argument("--configs", default=None, help="branches x dims, e.g. 16x10,32x5 (overrides --grid)")
    p.add_argument("--lams", default="0,1,10,20,40", help="lambda values")
    p.add_argument("--radii", default="0.5,1,1.5,2,2.25,3,5", help="radius sweep values")
    p.add_argument("--sample-sizes", default="10,50,80,100,120,250,500,5000", help="sample-size sweep values")
    p.add_argument("--checkpoint", default=None,
                   help="model for the radius and sample-size sweeps (default: the grid's lambda=20 cell)")
    p.add_argument("--config", default=None, help="YAML of further training options (image_size, channels, ...)")
    p.add_argument("--n", type=int, default=120, help="inliers per class (lambda grid, radius sweep)")
    p.add_argument("--radius", type=float, default=2.0, help="radius (lambda grid, sample-size sweep)")
    p.add_argument("--draws", type=int, default=5, help="draws per class")
    p.add_argument("--seed", type=int, default=0, help="seed of training and draws")
    _add_threads(p)
    _add_device(p)
    _add_out_dir(p, "runs/ablate", "output folder (cells, tables, plots)")
    p.set_defaults(func=_cmd_ablate)


# ----------------------------------------------------------------------------- loop
def _cmd_loop(args) -> int:
    from .loop_demo import format_loop_report, run_loop_demo
    res = run_loop_demo(args.out_dir, n_points=args.points, noise=args.noise, steps=args.steps, lr=args.lr,
                        metric=args.metric, seed=args.seed)
    print(format_loop_report(res))
    print(f"\nfigure {res.figure} and numbers.json under {args.out_dir}")
    return 0


def _add_loop_command(sub) -> None:
    p = sub.add_parser("loop", help="1-dim persistence: gradient descent makes a noisy circle's loop more or less "
                                    "persistent (plot)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--points", type=int, default=80, help="points on the circle")
    p.add_argument("--noise", type=float, default=0.3, help="standard deviation of the Gaussian noise")
    p.add_argument("--steps", type=int, default=300, help="Adam steps per run")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate")
    p.add_argument("--metric", default="l2", help="l1, l2, linf or a number p >= 1")
    p.add_argument("--seed", type=int, default=0, help="seed of the circle")
    _add_out_dir(p, "runs/loop", "where loop.png and numbers.json go")
    p.set_defaults(func=_cmd_loop)


# ----------------------------------------------------------------------------- stack
def _cmd_stack(args) -> int:
    from ..training.stack import stack_checkpoints
    out = stack_checkpoints(args.models, args.out)
    from ..training.checkpoints import load_checkpoint
    ck = load_checkpoint(out)
    print(f"{out}: {len(ck['model_args']['parts'])} encoders, {ck['model_args']['n_branches']} branches "
          f"(use it wherever a model.pt goes: corel evaluate, compare, score)")
    return 0


def _add_stack_command(sub) -> None:
    p = sub.add_parser("stack", help="put trained encoders side by side in one model file (codes concatenated, "
                                     "scores added over all branches)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("models", nargs="+", help="two or more model.pt / .ckpt files of `corel train`")
    p.add_argument("--out", required=True, help="the stacked model file to write (never overwritten)")
    p.set_defaults(func=_cmd_stack)


# ----------------------------------------------------------------------------- compare
def _cmd_compare(args) -> int:
    import logging
    from ..protocols.compare import CompareSpec, compare, default_methods, format_compare_table
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    methods = default_methods(args.beyond_checkpoint) if args.methods.strip() == "all" else tuple(
        m.strip() for m in args.methods.split(",") if m.strip())
    classes = None if args.classes is None else tuple(c for c in args.classes.split(",") if c.strip())
    spec = CompareSpec(dataset=args.dataset, data_root=args.data_root, methods=methods, profile=args.profile,
                       classes=classes, train_size=args.train_size, n=args.n, draws=args.draws,
                       baseline_draws=args.baseline_draws, radius=args.radius, checkpoint=args.checkpoint,
                       plain_checkpoint=args.plain_checkpoint, beyond_checkpoint=args.beyond_checkpoint,
                       beyond_scorer=_scorer_fields(args.beyond_scorer), beyond_tta=args.beyond_tta,
                       image_size=args.image_size, seed=args.seed,
                       device=args.device, threads=args.threads, overrides=tuple(args.set),
                       table_only=args.table_only, novelty=args.novelty, rotations=args.rotations)
    table = compare(spec, args.out_dir)
    print(format_compare_table(table))
    print(f"compare.md / .csv / .json / .png and the per-cell results under {args.out_dir} "
          f"({table['cells_computed']} cells computed, {table['cells_reused']} reused)")
    _maybe_report(args, args.out_dir)
    return 0


def _scorer_fields(text: str) -> dict:
    """``knn-mean,k=5,aggregate=sum,reference=8000`` -> Scorer fields (corel.scoring.settings spells them)."""
    from ..scoring.settings import parse_scorer_text, scorer_fields
    try:
        return scorer_fields(**parse_scorer_text(text))
    except ValueError as err:
        raise ValueError(f"--beyond-scorer: {err}") from None


# What the compare parser shows, as plain constants (corel.protocols.compare imports torch and the baselines);
# tests/test_cli.py checks them against corel.protocols.compare.METHODS and PROFILES.
COMPARE_METHODS = ("corel", "corel-beyond", "plain-ae", "plain-ae-hindsight", "ocsvm-pixels", "ocsvm-codes", "kde-pixels",
                   "kde-codes", "deep-svdd", "deep-svdd-soft", "dsebm", "dagmm", "geom")
COMPARE_PROFILES = ("cpu", "full", "smoke")


def _add_compare_command(sub) -> None:
    p = sub.add_parser("compare", help="COREL beside the baselines (OC-SVM, KDE, Deep SVDD, DSEBM, DAGMM, GEOM) "
                                       "and the published numbers, class by class (resumable)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="cifar10-jpeg", help="evaluation set (a corel.data name)")
    p.add_argument("--data-root", default=None, help="its folder or file")
    p.add_argument("--methods", default="all",
                   help=f"comma-separated: {', '.join(COMPARE_METHODS)}; or all")
    p.add_argument("--profile", choices=COMPARE_PROFILES, default="cpu",
                   help="cpu: shortened deep training (hours on 2 cores); full: the papers' settings; smoke: tests")
    p.add_argument("--classes", default=None, help="comma-separated class names or indices (default: all)")
    p.add_argument("--train-size", choices=["full", "n"], default="full",
                   help="baselines on the whole training split of a class (papers) or on COREL's n inliers")
    p.add_argument("--n", type=int, default=120, help="COREL's inliers per class and draw")
    p.add_argument("--draws", type=int, default=5, help="COREL's draws per class")
    p.add_argument("--baseline-draws", type=int, default=1, help="with --train-size n: baseline fits per class")
    p.add_argument("--radius", type=float, default=2.0, help="COREL's l1 ball radius per branch")
    p.add_argument("--checkpoint", default=None, help="COREL model.pt (lambda=20): corel, ocsvm-codes, kde-codes")
    p.add_argument("--plain-checkpoint", default=None, help="lambda=0 model.pt: plain-ae, plain-ae-hindsight")
    p.add_argument("--beyond-checkpoint", default=None,
                   help="model.pt of another recipe (results/cifar10-beyond): corel-beyond, added to 'all' when given")
    p.add_argument("--beyond-scorer", default="count",
                   help="corel-beyond's scorer: KIND[,key=value...], e.g. knn-mean,k=5,aggregate=sum or "
                        "count,radius=auto,radius_quantile=0.5"),
    p.add_argument("--beyond-tta", nargs="?", const="flips", default="off", choices=list(TTA_MODES), metavar="MODE",
                   help="corel-beyond's test-time views, as `corel evaluate --tta`: off, flips (the flag alone), "
                        "flips-shifts")
    p.add_argument("--novelty", default="standard", metavar="{standard,pool-without}",
                   help="standard: each class against all others, corel-beyond's pool holds every class; "
                        "pool-without: each class against the other classes its pool lacks (--rotations sets per "
                        "class), every method scored on those queries")
    p.add_argument("--rotations", type=int, default=3, help="pool-without: left-out class sets per class")
    p.add_argument("--image-size", type=int, default=32, help="images resized to this side")
    p.add_argument("--set", action="append", default=[], metavar="METHOD.PARAM=VALUE",
                   help="override a detector parameter, e.g. geom.depth=10 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws, subsets and detectors")
    _add_device(p)
    _add_threads(p)
    _add_out_dir(p, "runs/compare", "output folder (cells, tables, plot)")
    p.add_argument("--table-only", action="store_true",
                   help="train nothing: write the table of the cells already finished (the others: 'not run')")
    _add_report_flag(p, "out_dir/report.html")
    p.set_defaults(func=_cmd_compare)


# ----------------------------------------------------------------------------- score, report
def _add_report_flag(p, where: str) -> None:
    p.add_argument("--report", nargs="?", const="", default=None, metavar="FILE",
                   help=f"also write a self-contained HTML report (default FILE: {where})")


def _maybe_report(args, run_dir) -> None:
    if getattr(args, "report", None) is None:
        return
    from .report import write_report
    print(f"report written to {write_report(run_dir, args.report or None)}")


def _model_file(name_or_path):
    """A shipped model's file for its name (`corel models`); any other string is left for the loader."""
    if name_or_path is None or Path(name_or_path).exists():
        return name_or_path
    from ..named import available, resolve
    return str(resolve(name_or_path)) if str(name_or_path) in available() else name_or_path


def _cmd_export(args) -> int:
    from ..training.export import export_encoder
    out = export_encoder(_model_file(args.model), onnx=args.onnx, torchscript=args.torchscript, overwrite=args.force)
    for kind in ("onnx", "torchscript"):
        if kind in out:
            print(f"{kind}: {out[kind]} (images {out['input']} in [0, 1] -> codes of size {out['code_size']})")
    return 0


def _cmd_models(args) -> int:
    from ..named import format_cards
    print(format_cards(args.name))
    return 0


def _cmd_score(args) -> int:
    from .score import ScoreOptions, format_summary, run_score
    _set_threads(args.threads)
    if args.model_flag is not None:
        if args.model is not None:
            raise ValueError(f"Give the model once: as MODEL ({args.model}) or as --model ({args.model_flag}).")
        args.model = args.model_flag
    args.model = _model_file(args.model)
    opts = ScoreOptions(scorer=args.scorer, radius=args.radius, radius_quantile=args.radius_quantile, k=args.k,
                        aggregate=args.aggregate, contamination=args.contamination, threshold=args.threshold,
                        batch_size=args.batch_size, device=args.device, progress=args.progress, tta=args.tta,
                        reference=args.reference, pool_rule=args.pool_rule, pool=args.pool)
    report = None if args.report is None else (args.report or str(Path(args.out).parent / "report.html"))

    def warn(message: str) -> None:
        print(f"corel score: warning: {message}", file=sys.stderr)

    summary = run_score(args.model, detector=args.detector, inliers=args.inliers, images=args.images, out=args.out,
                        save_detector=args.save_detector, report=report, opts=opts, warn=warn)
    if "n_scored" in summary:
        print(format_summary(summary, args.out))
    else:
        print(f"detector fitted on {summary['n_inliers']} inliers written to {summary['detector_file']}")
    return 0


def _cmd_report(args) -> int:
    from .report import write_report
    print(f"report written to {write_report(args.run_dir, args.out, kind=args.kind)}")
    return 0


def _add_score_and_report_commands(sub) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser(
        "score", help="score your own images against about a hundred examples of the normal class",
        formatter_class=fmt,
        description="Fit COREL's detector on the images at --inliers with MODEL (or load --detector), score every "
                    "image at --images and write a CSV: path, score (higher = more novel; minus the detector's "
                    "normality), count (the paper's neighbour count), verdict (novel / normal / unreadable, "
                    "from a threshold chosen on the inliers alone) and reason (why a file could not be read). "
                    "PATHs are folders (nested too), zips or text files listing image paths; images are "
                    "converted and resized as the model was trained.")
    p.add_argument("model", nargs="?", default=None,
                   help="a shipped model's name (`corel models`) or a model.pt (or .ckpt) written by `corel train`")
    p.add_argument("--model", dest="model_flag", default=None, metavar="NAME",
                   help="the same as MODEL, as a flag (e.g. --model cifar10-contrastive)")
    p.add_argument("--inliers", default=None, metavar="PATH", help="examples of the normal class")
    p.add_argument("--images", default=None, metavar="PATH", help="images to score")
    p.add_argument("--reference", default=None, metavar="PATH",
                   help="with a knn scorer: unlabelled images of any class (about 2,000 of those the model was "
                        "trained on, or of your domain); each knn distance to the inliers is divided by the distance "
                        "to these (a density ratio). A pool helps only against kinds of images it holds; with the "
                        "default --pool-rule (clip, or fused for a pair), novelty of a kind it lacks is still scored "
                        "by its distance to the inliers")
    p.add_argument("--pool", action=argparse.BooleanOptionalAction, default=True,
                   help="without --reference: use the pool of unlabelled training images a shipped model carries "
                        "(`corel models NAME` says which), with the default --pool-rule")
    p.add_argument("--detector", default=None, metavar="FILE",
                   help="a detector written by --save-detector (no MODEL or --inliers needed)")
    p.add_argument("--save-detector", default=None, metavar="FILE",
                   help="write the fitted detector (encoder, inlier codes, settings) as one file")
    p.add_argument("--out", default="scores.csv", help="the scores CSV (a JSON summary is written beside it)")
    _add_report_flag(p, "report.html beside the CSV")
    p.add_argument("--contamination", type=float, default=None,
                   help="share of inlier-like images flagged: the threshold is the 1 - contamination quantile of "
                        "the inliers' leave-one-out scores (default 0.1, as CorelDetector, or the detector file's)")
    p.add_argument("--threshold", type=float, default=None,
                   help="flag images whose score exceeds this (overrides --contamination)")
    _add_scorer_flags(p, scorer="knn-mean", pool_rule=None)
    _add_tta_flag(p, default=None)
    p.add_argument("--batch-size", type=int, default=256, help="images read and encoded at once")
    _add_device(p)
    _add_threads(p)
    _add_progress(p)
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("export", help="a trained encoder as ONNX or TorchScript (images -> codes)",
                       formatter_class=fmt,
                       description="Write the encoder of MODEL (a shipped name or a model.pt) as ONNX and/or "
                                   "TorchScript: float32 images (N, C, H, W) in [0, 1] -> codes. Score the codes with "
                                   "corel.CorelDetector() (no encoder), or anywhere that runs the file.")
    p.add_argument("model", help="a shipped model's name (`corel models`) or a model.pt written by `corel train`")
    p.add_argument("--onnx", default=None, metavar="FILE", help="the ONNX file to write (needs the onnx package)")
    p.add_argument("--torchscript", default=None, metavar="FILE", help="the TorchScript file to write")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("models", help="the trained models that ship with corel, and their model cards",
                       formatter_class=fmt,
                       description="List the shipped models, or show one model's card: what it was trained on, "
                                   "with which command, and its numbers in each protocol. A name goes wherever a "
                                   "model.pt goes (corel score NAME ..., corel evaluate NAME ...).")
    p.add_argument("name", nargs="?", default=None, help="a model's name: show its card")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("report", help="one self-contained HTML page of a train, evaluate, compare or score run",
                       formatter_class=fmt)
    p.add_argument("run_dir", help="a run folder (train, evaluate, compare) or a score CSV / JSON or its folder")
    p.add_argument("--out", default=None, help="the HTML file (default: report.html in the run folder)")
    p.add_argument("--kind", choices=["train", "evaluate", "compare", "score"], default=None,
                   help="check that the folder is of this kind (default: detected)")
    p.set_defaults(func=_cmd_report)


def _add_tta_flag(p, default: str | None = "off") -> None:
    p.add_argument("--tta", nargs="?", const="flips", default=default, choices=list(TTA_MODES), metavar="MODE",
                   help="test-time augmentation: off; flips (--tta alone: as is and mirrored left-right); "
                        "flips-shifts (also shifted 2 pixels both ways: 6 views). Inliers join in every view, a "
                        "query's score is the sum of its views' scores"
                        + ("" if default is not None else
                           " (default: flips-shifts when fitting, the detector file's own with --detector)"))


def _bare_tta_before_a_path(argv: list[str]) -> list[str]:
    """``--tta`` alone just before the positional path (``corel evaluate --tta model.pt``) means
    ``--tta flips``: argparse would take the path as the mode. A word that is no path (a mistyped
    mode) is left for argparse's one-line invalid-choice error."""
    out = list(argv)
    for i in range(len(out) - 2, -1, -1):
        nxt = out[i + 1]
        if out[i] == "--tta" and nxt not in TTA_MODES and not nxt.startswith("-") and os.path.exists(nxt):
            out.insert(i + 1, "flips")
    return out


def _add_scorer_flags(p, **defaults) -> None:
    """The scoring settings as flags, generated from their one table (corel.scoring.settings.SETTINGS):
    the same names and values as CorelDetector's parameters; ``defaults`` override the paper's."""
    from ..scoring.settings import SETTINGS
    for setting in SETTINGS:
        default = defaults.get(setting.name, setting.default)
        # "%(default).0s" prints nothing; it only keeps argparse from adding "(default: None)"
        extra = " (default: fused for a stack of two encoders, clip otherwise%(default).0s)" if default is None else ""
        p.add_argument(setting.flag, dest=setting.name, type=_checked(setting.parse), choices=setting.choices,
                       default=default, help=setting.help + extra)


def _checked(parse):
    """``parse`` for argparse: its ValueError becomes argparse's one-line error."""
    def convert(text):
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _add_protocol_flags(p) -> None:
    p.add_argument("--n", type=_int_tuple, default=(120,), help="inliers per class, comma-separated (80,120,500)")
    p.add_argument("--draws", type=int, default=5, help="fresh draws of the n inliers per class")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws")


# ----------------------------------------------------------------------------- evaluate-large
def _cmd_evaluate_large(args) -> int:
    from ..training.distributed import parse_shard
    from ..protocols.largescale import LargeSpec, evaluate_large, print_summary
    _set_threads(args.threads)
    if min(args.n, args.draws, args.chunk_size, args.workers) < 1 or not (args.radius > 0 and args.memory_mb > 0):
        raise ValueError(f"--n, --draws, --chunk-size and --workers must be >= 1, --radius and --memory-mb > 0; got "
                         f"{args.n}, {args.draws}, {args.chunk_size}, {args.workers}, {args.radius}, {args.memory_mb}.")
    spec = LargeSpec(data_root=args.data_root, dataset=args.dataset, n=args.n, draws=args.draws, radius=args.radius,
                     seed=args.seed, shard=None if args.shard is None else parse_shard(args.shard), step=args.step,
                     chunk_size=args.chunk_size, workers=args.workers, memory_mb=args.memory_mb, device=args.device,
                     progress=args.progress, wait_s=args.wait_s)
    summary = evaluate_large(args.checkpoint, spec, args.out_dir)
    if summary is not None:
        print_summary(summary, f"{args.out_dir}/n{args.n}")
    return 0


def _add_large_command(sub) -> None:
    p = sub.add_parser(
        "evaluate-large", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="the one-class protocol at ImageNet scale: streamed, sharded over processes, resumable",
        description="The paper's protocol (as `corel evaluate`, count scorer) on a class-folder tree too large for "
                    "memory: DATA_ROOT/train/<class>/ and DATA_ROOT/val/<class>/ are encoded in chunks into "
                    "memory-mapped codes, then every class is scored in blocks of bounded memory. Each step resumes "
                    "after a kill. With --shard I/K (default under torchrun or SLURM: the rank and world size), K "
                    "processes each encode 1/K of the images and score 1/K of the classes; the first to see every "
                    "shard finished merges the codes, and the last to finish writes the summary.")
    p.add_argument("checkpoint", help="model.pt or a Lightning .ckpt written by `corel train`")
    p.add_argument("--data-root", required=True, help="folder holding train/<class>/ and val/<class>/ (or test/)")
    p.add_argument("--dataset", default="imagenet", help="name recorded with the codes")
    p.add_argument("--n", type=int, default=120, help="inliers drawn per class")
    p.add_argument("--draws", type=int, default=5, help="fresh draws of the n inliers per class")
    p.add_argument("--radius", type=float, default=2.0, help="l1 ball radius per branch (eta)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws")
    p.add_argument("--shard", default=None, metavar="I/K",
                   help="this process's part (from 0) of K: images to encode, classes to score "
                        "(default: RANK/WORLD_SIZE or SLURM_PROCID/SLURM_NTASKS, else 0/1)")
    p.add_argument("--step", choices=["all", "encode", "score"], default="all",
                   help="encode only, score only (codes complete), or both")
    p.add_argument("--chunk-size", type=int, default=512, help="images decoded and encoded at once")
    p.add_argument("--workers", type=int, default=4, help="decoding threads")
    p.add_argument("--memory-mb", type=float, default=256, help="memory for one block of class scores")
    p.add_argument("--wait-s", type=float, default=86400, help="how long a shard waits for the others' codes")
    _add_device(p)
    _add_threads(p)
    _add_progress(p)
    _add_out_dir(p, "runs/evaluate-large", "index, codes, per-class results, tables")
    p.set_defaults(func=_cmd_evaluate_large)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``corel``; returns the exit status."""
    parser = build_parser()
    args, extras = parser.parse_known_args(_bare_tta_before_a_path(sys.argv[1:] if argv is None else list(argv)))
    if extras:  # name the subcommand's help, not the top-level one
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extras)}")
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, NotImplementedError) as err:
        print(f"corel {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader stopped early (`corel models | head`): quiet, as other command-line tools.
        # Python's advice: point stdout at devnull so that the flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
