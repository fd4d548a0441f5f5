"""`rasa data validate`, failing on every warning except the ones that do not matter here.

Allowed: responses used only by custom actions and forms (Rasa cannot see those uses), and Rasa's
report of the retrieval intent `faq` as "duplicated" (it counts the domain's intent and the one the
NLU data implies).
"""
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def responses_used_by_code() -> set:
    """Responses named in actions/*.py or knowledge/followups.yml, form questions (utter_ask_*), and utter_faq/*."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "actions").glob("*.py"))
    code += (ROOT / "knowledge" / "followups.yml").read_text(encoding="utf-8")  # read by actions/followup.py
    return {name for name in domain["responses"] if name in code or name.startswith("utter_ask_")}


def main() -> int:
    result = subprocess.run([str(ROOT / ".venv/bin/rasa"), "data", "validate"], cwd=ROOT,
                            capture_output=True, text=True)
    output = result.stdout + result.stderr
    allowed = responses_used_by_code()
    problems = []
    for line in output.splitlines():
        if "UserWarning" not in line and "ERROR" not in line:
            continue
        unused = re.search(r"The utterance '([^']+)' is not used in any story or rule", line)
        if unused and unused.group(1) in allowed:
            continue
        if "duplicated intents have been found across multiple domain files: faq" in line:
            continue
        problems.append(line.strip())
    print("\n".join(problems) or "rasa data validate: no errors, no warnings that matter")
    return 1 if problems or result.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
