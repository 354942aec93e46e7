"""Who may call qiflow from outside: bearer tokens, and requests remembered for retries."""
