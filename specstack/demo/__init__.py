"""The embedded demo: a generated corpus, a small base model trained here, and the demo target."""
