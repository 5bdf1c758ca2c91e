"""Shared by the agent beside it (a module a user keeps next to agent.py)."""

SYSTEM_PROMPT = "You are a careful assistant (sibling-import marker). End with: FINAL ANSWER: <answer>"
