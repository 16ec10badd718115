"""Procure-to-pay: requisition, approval, purchase order, receipts, invoices, match, payment."""
