"""Error records and redaction: classification, sanitizing, the record model, logs. Private."""
