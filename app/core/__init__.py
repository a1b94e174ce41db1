"""What every room builds on: the settings, operator errors, the closing protocol."""
