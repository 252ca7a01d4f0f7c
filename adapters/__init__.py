"""Agency adapters: one folder per agency, plus what all adapters share."""
