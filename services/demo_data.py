"""The demo company's customers and products, seeded alike into the reference ERP and Tryton.

Customers: C-100 Ada Lovelace (ACME), C-101 Grace Hopper, C-104, C-105 are ordinary;
C-102 Tiny Shop has a credit limit of 500.00; C-103 Blocked Trading is blocked.
Products: SKU-001 … SKU-010 with 10,000 on hand each; SKU-011 with none.
Suppliers (all in EUR): SUP-100 Bean Roasters, SUP-101 Grinder Parts, SUP-102 Office Supply Co
are active and approved; SUP-103 Blocked Imports is blocked; SUP-104 Newcomer Trading is active
but new (not yet on the approved-supplier list: its purchases need finance too).
"""

from __future__ import annotations

# (customer id, name, e-mail, company or None, credit limit, blocked)
DEMO_CUSTOMERS: list[tuple[str, str, str, str | None, str, bool]] = [
    ("C-100", "Ada Lovelace", "ada@example.com", "ACME", "50000.00", False),
    ("C-101", "Grace Hopper", "grace@example.com", "Hopper Systems", "25000.00", False),
    ("C-102", "Tiny Shop", "owner@tinyshop.example", "Tiny Shop", "500.00", False),
    ("C-103", "Blocked Trading", "accounts@blocked.example", "Blocked Trading", "10000.00", True),
    ("C-104", "Alan Turing", "alan@example.com", None, "20000.00", False),
    ("C-105", "Katherine Johnson", "katherine@example.com", "Orbital Ltd", "100000.00", False),
]

# (sku, name, unit price, quantity on hand)
DEMO_PRODUCTS: list[tuple[str, str, str, int]] = [
    ("SKU-001", "Espresso machine", "49.90", 10_000),
    ("SKU-002", "Coffee grinder", "89.00", 10_000),
    ("SKU-003", "Milk frother", "24.50", 10_000),
    ("SKU-004", "Bean storage jar", "12.00", 10_000),
    ("SKU-005", "Descaling kit", "9.99", 10_000),
    ("SKU-006", "Tamper", "19.90", 10_000),
    ("SKU-007", "Knock box", "29.00", 10_000),
    ("SKU-008", "Cup set", "34.90", 10_000),
    ("SKU-009", "Scale", "45.00", 10_000),
    ("SKU-010", "Water filter", "14.90", 10_000),
    ("SKU-011", "Limited edition roaster", "899.00", 0),
]

# (supplier id, name, e-mail, currency, status, new)
DEMO_SUPPLIERS: list[tuple[str, str, str, str, str, bool]] = [
    ("SUP-100", "Bean Roasters GmbH", "orders@beanroasters.example", "EUR", "active", False),
    ("SUP-101", "Grinder Parts BV", "sales@grinderparts.example", "EUR", "active", False),
    ("SUP-102", "Office Supply Co", "orders@officesupply.example", "EUR", "active", False),
    ("SUP-103", "Blocked Imports Ltd", "accounts@blockedimports.example", "EUR", "blocked", False),
    ("SUP-104", "Newcomer Trading", "hello@newcomer.example", "EUR", "active", True),
]
