"""Made tests/bot/nlp/data/minilm_reference.json once, outside the project: run in a scratch venv with
sentence-transformers (and torch), never in the project's. `python make_encoder_reference.py MODEL_DIR OUT.json`"""
import json
import sys

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

texts = [
    "how much is meso per session at ur clinic",
    "can stress really make ur hair fall out?",
    "what's the weather like in london",
    "do you guys also do laser hair removal?",
    "whats the time of my next meso session again?",
    "my date of birth is 14/02/1985, when is my next session?",
    "bye!",
    "the blood thing",
    "no sorry, i meant how many sessions in total",
    "Hair mesotherapy is a minimally invasive, non-surgical treatment.",
    "¿Duele la mesoterapia? 😬",
    "",
    "a " * 300,
    "MC-1001",
]
model = SentenceTransformer(sys.argv[1], device="cpu")
vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=4)
json.dump({
    "made_by": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}, "
               "SentenceTransformer(model dir from the pinned wheel).encode(texts, normalize_embeddings=True)",
    "texts": texts,
    "vectors": [[round(float(x), 7) for x in row] for row in vectors],
}, open(sys.argv[2], "w"), indent=None)
print("ok", vectors.shape)
