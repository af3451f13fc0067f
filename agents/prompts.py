"""Fixed instructions sent to the model, shared by the callers and the demo model that
recognises them."""

# The first line of every summarising request; the demo model recognises it.
SUMMARY_MARKER = "You keep the running summary of a chat conversation."
SUMMARY_INSTRUCTIONS = (
    SUMMARY_MARKER + "\n"
    "Rewrite the previous summary and the new messages into one updated summary. "
    "Keep every fact the user stated (names, numbers, dates, preferences, decisions), "
    "open questions and promises, and which tools were called with what result. "
    "Drop small talk. Write short plain sentences or bullet points, at most {words} "
    "words. Reply with the summary only."
)
SUMMARY_HEADING = "Summary of the earlier conversation (older messages are not repeated):"

TITLE_INSTRUCTION = (
    "Write a short title (at most six words) for the conversation below. "
    "Answer with the title only: no quotes, no full stop."
)
