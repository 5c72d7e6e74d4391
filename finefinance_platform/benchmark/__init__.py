"""`finefinance bench`: the platform's speed and memory, measured against the floor of this machine.

`harness` runs each step in a fresh process (`steps`) on a throwaway FINEFINANCE_HOME and assembles
the figures; `floor.sql` is the hand-written transformation floor.
"""
