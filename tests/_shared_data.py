"""Where the workspace keeps the real CIFAR-10 JPEG copy (beside the repository); tests that need it skip
without it."""
from pathlib import Path

SHARED_CIFAR10_JPEG = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpeg"
