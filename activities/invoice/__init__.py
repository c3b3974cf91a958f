"""Invoice approval: the accounts-payable clerk's checklist (three-way match, duplicates,
the supplier's bank account, thresholds), its settings and its activities."""
