"""Purchase records (购销记录): entry, vouchers, the review workflow, warning flags, totals."""
