"""One router per resource; pages.py serves the HTML pages from the same query functions."""
