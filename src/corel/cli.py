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
    return parser


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
