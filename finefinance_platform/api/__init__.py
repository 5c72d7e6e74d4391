"""The HTTP statement service (`finefinance serve`): customers list and download their issued
statements, and anyone checks a file, behind the identity provider's access tokens."""
