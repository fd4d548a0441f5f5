"""Teaching the assistant: the queue of patient messages it did not understand (or that staff flagged),
labelled by staff with the FAQ topic they should have matched, and exported as NLU training data
for a clinician to review (`python -m bot export-nlu`)."""
