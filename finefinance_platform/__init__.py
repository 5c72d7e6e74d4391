"""FineFinance data platform (README.md)."""

import os

# Everything the platform writes holds secrets, tokens, customer data or the audit log: the
# identity provider's keys and database, the warehouse and its serving copy, the access log, the
# statements. Every process of the platform imports this package first, so from here on what it
# creates, and what its children create (PostgreSQL, the provider, Streamlit, Dagster's run
# processes, dbt), is 0600 and 0700 whatever umask the shell had. `private_home` repairs what an
# older version or another tool left looser.
os.umask(0o077)
