"""One run's bookkeeping: its folder, lock, resume, record, checks and the training entry."""
