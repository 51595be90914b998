"""Thin slash-command handlers: defer if slow -> call bot/ -> render -> respond."""
