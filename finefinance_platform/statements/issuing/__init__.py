"""Issuing: issued statements are records: the table `delivery.statement_issues`
(docs/business-definitions.md#issued-statements-are-records).

When a closed month is issued, each customer's statement becomes version 1, stored with its
canonical content (the lines and totals of every account, as JSON) and the SHA-256 of that content.
A later rebuild of the marts that changes a statement issues version 2 (3, ...) beside it, with the
reason and what changed; a rebuild that changes nothing issues nothing. Issuing reads the marts
only: whether PDF or CSV files are rendered at that moment does not matter.

Every channel serves issued versions (the latest by default), rebuilt from the stored content, so an
old version stays downloadable after the marts changed and renders to the same bytes every time.

Here: the table (`table.py`), a statement's canonical content and its SHA-256 (`content.py`), what
changed between two versions (`changes.py`), issuing a month (`issue.py`), reading issued versions
(`issued.py`) and the check that the table agrees with the marts (`check.py`).
"""
