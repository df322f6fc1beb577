"""What the verbs share: options, targets, output, errors, configuration — no verb lives here."""
