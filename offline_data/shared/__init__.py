"""Infrastructure shared by every layer of recgym: errors, config dataclasses, atomic
writes, JSON metadata files and units.

It lives in the bottom layer (`offline_data`) so that `simulators`, `recgym` and `agents`
can all import it without breaking the one-way imports; it holds nothing about logs.
"""
