"""The command line: ``corel train | evaluate | ...``. Parses and calls; no logic of its own."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

__all__ = ["main"]


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
    from .training import TrainConfig, train
    cfg = _config_from(args, TrainConfig, skip={"command", "config", "resume", "func"})
    final = train(cfg, resume=args.resume)
    print(f"model written to {final}")
    return 0


def _int_tuple(text: str):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 80,120,500; got {text!r}") from None


def _print_summaries(summaries, out_dir) -> None:
    from .pipeline import format_table
    print(format_table(summaries))
    print(f"\nper-class tables, summary.json and plots under {out_dir}")


def _cmd_evaluate(args) -> int:
    from .pipeline import EvalSpec, evaluate_checkpoint
    spec = EvalSpec(dataset=args.dataset, data_root=args.data_root, ns=args.n, draws=args.draws,
                    radius=args.radius, seed=args.seed, batch_size=args.batch_size, device=args.device)
    _check_eval_args(args)
    _print_summaries(evaluate_checkpoint(args.checkpoint, spec, args.out_dir), args.out_dir)
    return 0


def _check_eval_args(args) -> None:
    if not args.radius > 0:
        raise ValueError(f"--radius must be > 0; got {args.radius}.")
    if args.draws < 1:
        raise ValueError(f"--draws must be >= 1; got {args.draws}.")
    if not args.n or min(args.n) < 1:
        raise ValueError(f"--n must list integers >= 1; got {args.n}.")


def _cmd_reproduce(args) -> int:
    from .pipeline import reproduce
    _check_eval_args(args)
    summaries = reproduce(args.setting, "quick" if args.quick else "full", args.out_dir, data_root=args.data_root,
                          checkpoint=args.checkpoint, lam=args.lam, ns=args.n, draws=args.draws, seed=args.seed,
                          threads=args.threads)
    _print_summaries(summaries, args.out_dir)
    return 0


def _cmd_demo(args) -> int:
    from .pipeline import demo
    _print_summaries(demo(args.out_dir, epochs=args.epochs, seed=args.seed, threads=args.threads), args.out_dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .training import TrainConfig
    parser = argparse.ArgumentParser(prog="corel", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a COREL autoencoder",
                       description="Train a COREL autoencoder with PyTorch Lightning. Options come from "
                                   "--config (YAML, same keys as the flags) and then from the flags.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=None, help="YAML file of options (keys as the flags, with underscores)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue from out_dir/checkpoints/last.ckpt when it exists")
    _add_config_flags(p, TrainConfig)
    p.set_defaults(func=_cmd_train)

    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser("evaluate", help="one-class novelty detection with a trained model (the paper's protocol)",
                       formatter_class=fmt,
                       description="For each class: draw n inliers from its training split, score the whole test "
                                   "split by counting inliers within the l1 ball of each branch, AUROC one vs rest; "
                                   "repeated for several draws.")
    p.add_argument("checkpoint", help="model.pt or a Lightning .ckpt written by `corel train`")
    p.add_argument("--dataset", default="cifar10-jpeg", help="evaluation set (a corel.data name)")
    p.add_argument("--data-root", default=None, help="its folder or file")
    _add_protocol_flags(p)
    p.add_argument("--batch-size", type=int, default=1000, help="images per encoder call")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cpu)")
    p.add_argument("--out-dir", default="runs/evaluate", help="where tables, summary.json and plots go")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("reproduce", help="train (or load) and evaluate a setting of the paper, beside its numbers",
                       formatter_class=fmt)
    p.add_argument("setting", help="cifar10 (the JPEG copy), cifar10-pickle, cifar100-on-cifar10")
    p.add_argument("--quick", action="store_true", help="a few hundred steps and 2 draws: minutes on a CPU")
    p.add_argument("--checkpoint", default=None, help="skip training and evaluate this model")
    p.add_argument("--data-root", default=None, help="folder of the training (and evaluation) data")
    p.add_argument("--lam", type=float, default=20.0, help="connectivity weight lambda (0: plain autoencoder)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    _add_protocol_flags(p)
    p.add_argument("--out-dir", default="runs/reproduce", help="output folder")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("demo", help="the quick start: train and evaluate on the bundled digits data",
                       formatter_class=fmt)
    p.add_argument("--epochs", type=int, default=30, help="training epochs per model")
    p.add_argument("--seed", type=int, default=0, help="seed of training and draws")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--out-dir", default="runs/demo", help="output folder")
    p.set_defaults(func=_cmd_demo)
    return parser


def _add_protocol_flags(p) -> None:
    p.add_argument("--n", type=_int_tuple, default=(120,), help="inliers per class, comma-separated (80,120,500)")
    p.add_argument("--draws", type=int, default=5, help="fresh draws of the n inliers per class")
    p.add_argument("--radius", type=float, default=2.0, help="l1 ball radius per branch (eta)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``corel``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, NotImplementedError) as err:
        print(f"corel {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
