"""Who may read and what stays secret: API key rules, log redaction, TLS."""
