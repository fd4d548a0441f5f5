"""Run as a script: load the model Rasa's way ("rasa") or with eager weight building ("eager"),
then print as JSON what it predicts for held-out questions (NLU, response selector, next action)."""
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


async def predictions(agent, texts):
    """Intent, confidence, FAQ answer key and TED/rules' next action for each text."""
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    found = []
    for text in texts:
        parse = await agent.parse_message(text)
        tracker = DialogueStateTracker.from_events("probe", [ActionExecuted("action_listen"),
                                                             UserUttered(text, parse["intent"], parse["entities"],
                                                                         parse)], agent.domain.slots)
        scores = agent.processor.predict_next_with_tracker(tracker)["scores"]
        best = max(scores, key=lambda score: score["score"])
        selector = parse.get("response_selector", {}).get("faq", {}).get("response", {})
        found.append({"intent": parse["intent"]["name"], "confidence": round(parse["intent"]["confidence"], 4),
                      "answer": selector.get("intent_response_key"), "action": best["action"],
                      "action_score": round(best["score"], 4)})
    return found


def main(mode):
    """Load the model in `mode`, then print the load time and the predictions."""
    from rasa.core.agent import Agent

    from tests.nlu.evaluation import heldout_examples

    if mode == "eager":
        from bot.engine.fast_load import use_eager_weight_building

        use_eager_weight_building()
    started = time.monotonic()
    agent = Agent.load(str(ROOT / "models" / "clinic.tar.gz"))
    seconds = time.monotonic() - started
    texts = [text for text, _ in heldout_examples()][::4]
    print(json.dumps({"load_seconds": seconds, "predictions": asyncio.run(predictions(agent, texts))}))


if __name__ == "__main__":
    main(sys.argv[1])
