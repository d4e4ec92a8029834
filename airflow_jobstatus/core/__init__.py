"""The job model and what is made of it: outcomes and verdicts, the ledger of what was sent, progress,
results and their storage, and the checks every input and answer goes through."""
