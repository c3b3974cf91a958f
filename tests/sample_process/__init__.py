"""A small process declared only here, in the tests: an expense claim checked against a limit,
approved by a person above it, and paid. It proves that a process is its workflow module, its
activities and its declaration, with no other file edited (``tests/test_sample_process.py``)."""
