"""Reporters: text, JSON and SARIF renderings of TargetResult lists."""
