"""The zero-setup demo: an embedded broker, a scripted mention stream, readable output."""
