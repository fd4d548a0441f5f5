"""The model loaded with eager weight building answers exactly as the model loaded Rasa's way."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model
PROBE = Path(__file__).with_name("fast_load_probe.py")


def probe(mode):
    """Load the model in a fresh process and return its load time and predictions."""
    done = subprocess.run([sys.executable, str(PROBE), mode], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_eager_weight_building_predicts_exactly_as_rasa(trained_model):
    rasa_way, eager = probe("rasa"), probe("eager")  # load times are measured by `make bench`
    assert len(eager["predictions"]) > 30
    assert eager["predictions"] == rasa_way["predictions"]
